import type { MigrationInterface, QueryRunner } from 'typeorm'

/**
 * Adds the CRC-32 column that every `@FileColumn()` (and `@ImageColumn()`) maps since ZIP archives
 * need it (ZipDownloadView): an unsigned 32-bit value, so a bigint; NULL for files saved before it
 * (the demo's seed and `typeorm-downloadview backfill` fill it).
 */
export class AddFileCrc321764300000000 implements MigrationInterface {
  name = 'AddFileCrc321764300000000'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "document" ADD "file_crc32" bigint, ADD "another_file_crc32" bigint`)
    await queryRunner.query(`ALTER TABLE "photo" ADD "image_crc32" bigint`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "photo" DROP COLUMN "image_crc32"`)
    await queryRunner.query(
      `ALTER TABLE "document" DROP COLUMN "file_crc32", DROP COLUMN "another_file_crc32"`,
    )
  }
}
