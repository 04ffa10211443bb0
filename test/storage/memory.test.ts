import t from 'tap'
import { createMemoryStorage } from '../../lib/storage/memory.ts'
import { storageContract } from '../../lib/storage/contract.ts'

storageContract(t, async () => createMemoryStorage())
