import type { MigrationInterface, QueryRunner } from 'typeorm'

/**
 * Adds the ThumbHash column that `@ImageColumn()` maps since it makes placeholders: base64 text,
 * NULL for photos saved before it (the demo's seed and `typeorm-downloadview backfill` fill it).
 */
export class AddPhotoThumbhash1764200000000 implements MigrationInterface {
  name = 'AddPhotoThumbhash1764200000000'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "photo" ADD "image_thumbhash" text`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "photo" DROP COLUMN "image_thumbhash"`)
  }
}
