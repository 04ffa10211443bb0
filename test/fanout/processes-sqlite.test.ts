import { threeInstances } from '../helpers/three-instances.ts'

threeInstances('one SQLite file')
