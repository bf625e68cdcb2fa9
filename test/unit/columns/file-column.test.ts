/** @module @FileColumn: recorded options, generated columns, the registry lookups, and option validation. */
import { Column, type ColumnOptions, Entity, getMetadataArgsStorage, PrimaryGeneratedColumn } from 'typeorm'
import {
  FileColumn,
  type FileColumnOptions,
  getFileColumn,
  getFileColumns,
} from '../../../src/columns/file-column'
import type { StoredFile } from '../../../src/columns/stored-file'
import { ConfigurationError } from '../../../src/errors'

@Entity()
class Document {
  @PrimaryGeneratedColumn() id!: number
  @Column({ type: 'text' }) slug!: string
  @FileColumn() file!: StoredFile | null
  @FileColumn() anotherFile!: StoredFile | null
}

@Entity()
class Invoice {
  @PrimaryGeneratedColumn() id!: number
  @FileColumn({ prefix: 'pdf_', storage: 'invoices', uploadTo: 'billing/invoices', nullable: false })
  scan!: StoredFile
}

@Entity()
class Archive {
  @PrimaryGeneratedColumn() id!: number
  @FileColumn({ onReplace: 'keep', onRemove: 'keep' }) kept!: StoredFile | null
  @FileColumn({ onReplace: 'delete', onRemove: 'keep' }) mixed!: StoredFile | null
}

@Entity()
class UserProfile {
  @PrimaryGeneratedColumn() id!: number
  @FileColumn() avatarImage!: StoredFile | null
}

/** The embedded class that @FileColumn generated for `entity[property]`. */
function embeddedClass(entity: Function, property: string): Function {
  const embedded = getMetadataArgsStorage().embeddeds.find(
    (args) => args.target === entity && args.propertyName === property,
  )
  if (!embedded) throw new Error(`No embedded column for ${entity.name}.${property}`)
  return embedded.type() as Function
}

/** The options of each real column behind `entity[property]`, by StoredFile field. */
function columnOptions(entity: Function, property: string): Record<string, ColumnOptions> {
  const target = embeddedClass(entity, property)
  return Object.fromEntries(
    getMetadataArgsStorage()
      .columns.filter((args) => args.target === target)
      .map((args) => [args.propertyName, args.options]),
  )
}

/** The options of the real column for one StoredFile field. */
function optionsOf(entity: Function, property: string, field: keyof StoredFile): ColumnOptions {
  const options = columnOptions(entity, property)[field]
  if (!options) throw new Error(`No column for ${entity.name}.${property}.${field}`)
  return options
}

describe('@FileColumn()', () => {
  describe('with no options', () => {
    it('names the real columns after the property', () => {
      const names = Object.fromEntries(
        Object.entries(columnOptions(Document, 'file')).map(([field, options]) => [field, options.name]),
      )
      expect(names).toEqual({
        path: 'file_path',
        name: 'file_name',
        size: 'file_size',
        contentType: 'file_content_type',
        modifiedAt: 'file_modified_at',
        sha256: 'file_sha256',
        crc32: 'file_crc32',
      })
    })

    it('records the same column names in the registry', () => {
      expect(getFileColumn(Document, 'file').columns).toEqual({
        path: 'file_path',
        name: 'file_name',
        size: 'file_size',
        contentType: 'file_content_type',
        modifiedAt: 'file_modified_at',
        sha256: 'file_sha256',
        crc32: 'file_crc32',
      })
    })

    it('snake-cases a camel-case property name in the column names', () => {
      const names = Object.values(columnOptions(Document, 'anotherFile')).map((options) => options.name)
      expect(names.sort()).toEqual([
        'another_file_content_type',
        'another_file_crc32',
        'another_file_modified_at',
        'another_file_name',
        'another_file_path',
        'another_file_sha256',
        'another_file_size',
      ])
    })

    it('records the prefix it derived', () => {
      expect(getFileColumn(Document, 'anotherFile').prefix).toBe('another_file_')
    })

    it('gives each column a real database type', () => {
      const types = Object.fromEntries(
        Object.entries(columnOptions(Document, 'file')).map(([field, options]) => [field, options.type]),
      )
      expect(types).toEqual({
        path: 'text',
        name: 'text',
        size: 'bigint',
        contentType: 'text',
        modifiedAt: 'timestamptz',
        sha256: 'char',
        crc32: 'bigint',
      })
    })

    it('makes the checksum column 64 characters long', () => {
      expect(optionsOf(Document, 'file', 'sha256').length).toBe(64)
    })

    it('generates one embedded class per property', () => {
      expect(embeddedClass(Document, 'file')).not.toBe(embeddedClass(Document, 'anotherFile'))
    })

    it('embeds the columns without a second prefix', () => {
      const embedded = getMetadataArgsStorage().embeddeds.find(
        (args) => args.target === Document && args.propertyName === 'file',
      )
      expect(embedded?.prefix).toBe(false)
    })

    it('leaves the entity’s other columns alone', () => {
      const slug = getMetadataArgsStorage().columns.find(
        (args) => args.target === Document && args.propertyName === 'slug',
      )
      expect(slug?.options.name).toBeUndefined()
    })
  })

  describe('with prefix', () => {
    it('names every column with the prefix instead of the property name', () => {
      const names = Object.values(columnOptions(Invoice, 'scan')).map((options) => options.name)
      expect(names.sort()).toEqual([
        'pdf_content_type',
        'pdf_crc32',
        'pdf_modified_at',
        'pdf_name',
        'pdf_path',
        'pdf_sha256',
        'pdf_size',
      ])
    })

    it('records the prefix', () => {
      expect(getFileColumn(Invoice, 'scan').prefix).toBe('pdf_')
    })
  })

  describe('nullable', () => {
    it('is true by default', () => {
      expect(getFileColumn(Document, 'file').nullable).toBe(true)
    })

    it('allows NULL in the path column by default', () => {
      expect(optionsOf(Document, 'file', 'path').nullable).toBe(true)
    })

    it('is recorded as false when set to false', () => {
      expect(getFileColumn(Invoice, 'scan').nullable).toBe(false)
    })

    it('makes the path column NOT NULL when false', () => {
      expect(optionsOf(Invoice, 'scan', 'path').nullable).toBe(false)
    })

    it('keeps the metadata columns nullable when false, since the save hook fills them', () => {
      const metadata = (['name', 'size', 'contentType', 'modifiedAt', 'sha256'] as const).map(
        (field) => optionsOf(Invoice, 'scan', field).nullable,
      )
      expect(metadata).toEqual([true, true, true, true, true])
    })
  })

  describe('storage', () => {
    it('is "default" by default', () => {
      expect(getFileColumn(Document, 'file').storage).toBe('default')
    })

    it('is the name given', () => {
      expect(getFileColumn(Invoice, 'scan').storage).toBe('invoices')
    })
  })

  describe.each(['onReplace', 'onRemove'] as const)('%s', (option) => {
    it('is "delete" by default', () => {
      expect(getFileColumn(Document, 'file')[option]).toBe('delete')
    })

    it('is recorded as "keep" when set to "keep"', () => {
      expect(getFileColumn(Archive, 'kept')[option]).toBe('keep')
    })
  })

  it('records onReplace and onRemove each as given', () => {
    const { onReplace, onRemove } = getFileColumn(Archive, 'mixed')
    expect({ onReplace, onRemove }).toEqual({ onReplace: 'delete', onRemove: 'keep' })
  })

  describe('uploadTo', () => {
    it('defaults to the entity and property names in snake case', () => {
      expect(getFileColumn(Document, 'anotherFile').uploadTo).toBe('document/another_file')
    })

    it('snake-cases a multi-word entity name', () => {
      expect(getFileColumn(UserProfile, 'avatarImage').uploadTo).toBe('user_profile/avatar_image')
    })

    it('is the prefix given', () => {
      expect(getFileColumn(Invoice, 'scan').uploadTo).toBe('billing/invoices')
    })
  })

  describe('the size column', () => {
    const transformer = () => {
      const options = optionsOf(Document, 'file', 'size').transformer
      if (!options || Array.isArray(options)) throw new Error('Expected one transformer on the size column')
      return options
    }

    it('turns the string Postgres returns for a bigint into a number', () => {
      expect(transformer().from('1234567890123')).toBe(1234567890123)
    })

    it('keeps a number a number', () => {
      expect(transformer().from(42)).toBe(42)
    })

    it('turns NULL into null', () => {
      expect(transformer().from(null)).toBeNull()
    })

    it('writes a number unchanged', () => {
      expect(transformer().to(1024)).toBe(1024)
    })
  })

  describe('when given a bad option', () => {
    it.each<[string, FileColumnOptions, string]>([
      ['an unknown option', { storgae: 'media' } as FileColumnOptions, '"storgae"'],
      ['an empty storage', { storage: '' }, '"storage"'],
      ['a storage that is not a string', { storage: 42 as unknown as string }, '"storage"'],
      ['a nullable that is not a boolean', { nullable: 'no' as unknown as boolean }, '"nullable"'],
      ['a prefix with upper case', { prefix: 'File_' }, '"prefix"'],
      ['a prefix with a dash', { prefix: 'my-file_' }, '"prefix"'],
      ['an empty prefix', { prefix: '' }, '"prefix"'],
      ['a prefix that is not a string', { prefix: 7 as unknown as string }, '"prefix"'],
      ['an absolute uploadTo', { uploadTo: '/srv/media' }, '"uploadTo"'],
      ['an uploadTo with a parent segment', { uploadTo: 'docs/../secrets' }, '"uploadTo"'],
      ['an uploadTo that is only a parent segment', { uploadTo: '..' }, '"uploadTo"'],
      ['an empty uploadTo', { uploadTo: '' }, '"uploadTo"'],
      ['an uploadTo with a trailing slash', { uploadTo: 'docs/' }, '"uploadTo"'],
      ['an uploadTo with a backslash', { uploadTo: 'docs\\files' }, '"uploadTo"'],
      ['an onReplace that is not a policy', { onReplace: 'remove' as 'keep' }, '"onReplace"'],
      ['an onReplace that is a boolean', { onReplace: false as unknown as 'keep' }, '"onReplace"'],
      ['an onRemove that is not a policy', { onRemove: 'purge' as 'keep' }, '"onRemove"'],
      ['an onRemove in upper case', { onRemove: 'DELETE' as 'delete' }, '"onRemove"'],
    ])('throws a ConfigurationError naming the option for %s', (_label, options, named) => {
      const declare = () => FileColumn(options)
      expect(declare).toThrow(ConfigurationError)
      expect(declare).toThrow(named)
    })

    it('throws before it is applied to a class', () => {
      let decorator: PropertyDecorator | undefined
      expect(() => {
        decorator = FileColumn({ prefix: 'Bad' })
      }).toThrow(ConfigurationError)
      expect(decorator).toBeUndefined()
    })

    it('records no column', () => {
      const before = getMetadataArgsStorage().embeddeds.length
      expect(() => FileColumn({ storage: '' })).toThrow(ConfigurationError)
      expect(getMetadataArgsStorage().embeddeds.length).toBe(before)
    })
  })

  describe('when given valid edge-case options', () => {
    it.each<[string, FileColumnOptions]>([
      ['a prefix with digits and underscores', { prefix: '_file2_' }],
      ['a nested uploadTo with dashes', { uploadTo: 'user-files/2026/scans' }],
      ['explicit defaults', { storage: 'default', nullable: true, onReplace: 'delete', onRemove: 'delete' }],
    ])('accepts %s', (_label, options) => {
      expect(() => FileColumn(options)).not.toThrow()
    })
  })
})

describe('getFileColumns()', () => {
  @Entity()
  class Attachment {
    @PrimaryGeneratedColumn() id!: number
    @FileColumn() file!: StoredFile | null
  }

  @Entity()
  class ImageAttachment extends Attachment {
    @FileColumn() thumbnail!: StoredFile | null
  }

  @Entity()
  class Unrelated {
    @PrimaryGeneratedColumn() id!: number
    @FileColumn() other!: StoredFile | null
  }

  it('lists the file columns of the entity, in declaration order', () => {
    expect(getFileColumns(Document).map((column) => column.propertyName)).toEqual(['file', 'anotherFile'])
  })

  it('includes the columns a subclass inherits from its parent entity', () => {
    expect(getFileColumns(ImageAttachment).map((column) => column.propertyName)).toEqual([
      'file',
      'thumbnail',
    ])
  })

  it('records an inherited column against the class that declares it', () => {
    expect(getFileColumn(ImageAttachment, 'file').target).toBe(Attachment)
  })

  @Entity()
  class Override extends Attachment {
    @FileColumn({ storage: 'archive' }) override file!: StoredFile | null
  }

  it('lets a subclass that declares a property again override its parent column', () => {
    const columns = getFileColumns(Override)
    expect(columns.map((column) => [column.propertyName, column.storage])).toEqual([['file', 'archive']])
  })

  it('does not give a parent the columns of its subclass', () => {
    expect(getFileColumns(Attachment).map((column) => column.propertyName)).toEqual(['file'])
  })

  it('does not include the columns of unrelated classes', () => {
    expect(getFileColumns(Unrelated).map((column) => column.propertyName)).toEqual(['other'])
  })

  it('returns an empty list for a class without file columns', () => {
    class Plain {}
    expect(getFileColumns(Plain)).toEqual([])
  })
})

describe('getFileColumn()', () => {
  it('returns the metadata of the named column', () => {
    expect(getFileColumn(Document, 'anotherFile')).toMatchObject({
      target: Document,
      propertyName: 'anotherFile',
    })
  })

  it('throws a ConfigurationError for a property that is not a file column', () => {
    expect(() => getFileColumn(Document, 'slug')).toThrow(ConfigurationError)
  })

  it('names Entity.property in the message', () => {
    expect(() => getFileColumn(Document, 'slug')).toThrow('Document.slug is not a @FileColumn()')
  })

  it('does not find a column of another entity', () => {
    expect(() => getFileColumn(Invoice, 'file')).toThrow('Invoice.file')
  })
})
