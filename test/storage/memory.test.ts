import t from 'tap'
import { createMemoryStorage } from '../../lib/storage/memory.ts'
import { storageContract } from './contract.ts'

storageContract(t, async () => createMemoryStorage())
