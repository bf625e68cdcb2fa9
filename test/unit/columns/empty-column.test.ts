/** @module nullEmptyFileColumns(): a file column that holds no file is null, and nothing else changes. */
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { nullEmptyFileColumns } from '../../../src/columns/empty-column'
import { FileColumn } from '../../../src/columns/file-column'
import { StoredFile } from '../../../src/columns/stored-file'

@Entity()
class Letter {
  @PrimaryGeneratedColumn() id!: number
  @Column({ type: 'text' }) title!: string | null
  @FileColumn() scan!: StoredFile | null
  @FileColumn() draft!: StoredFile | null
}

const stored = (fields: Partial<StoredFile>) => Object.assign(new StoredFile(), fields)

function letter(fields: Partial<Letter>): Letter {
  return Object.assign(new Letter(), fields)
}

describe('nullEmptyFileColumns()', () => {
  it('sets a value whose path is null to null', () => {
    const entity = letter({ scan: stored({ path: null, size: null }) })
    nullEmptyFileColumns(entity)
    expect(entity.scan).toBeNull()
  })

  it('sets a value whose path is empty to null', () => {
    const entity = letter({ scan: stored({ path: '' }) })
    nullEmptyFileColumns(entity)
    expect(entity.scan).toBeNull()
  })

  it('keeps a value that points at a file, the very same object', () => {
    const value = stored({ path: 'a.txt' })
    const entity = letter({ scan: value })
    nullEmptyFileColumns(entity)
    expect(entity.scan).toBe(value)
  })

  it('leaves a property that was not loaded undefined', () => {
    const entity = letter({ scan: stored({ path: null }) })
    nullEmptyFileColumns(entity)
    expect(entity.draft).toBeUndefined()
  })

  it('leaves other columns alone, null ones included', () => {
    const entity = letter({ title: null, scan: stored({ path: null }) })
    nullEmptyFileColumns(entity)
    expect(entity.title).toBeNull()
  })

  it('uses the class it is given for a plain object', () => {
    const entity: Record<string, unknown> = { scan: stored({ path: null }) }
    nullEmptyFileColumns(entity)
    expect(entity.scan).toBeInstanceOf(StoredFile)
    nullEmptyFileColumns(entity, Letter)
    expect(entity.scan).toBeNull()
  })

  it('does nothing without an entity', () => {
    expect(() => nullEmptyFileColumns(undefined)).not.toThrow()
  })
})
