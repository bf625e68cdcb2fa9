import type { MigrationInterface, QueryRunner } from 'typeorm'

/** Creates the demo's photo table: an image column is a file column plus width, height, format and alpha. */
export class CreatePhoto1764100000000 implements MigrationInterface {
  name = 'CreatePhoto1764100000000'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "photo" (
        "id" SERIAL NOT NULL,
        "slug" text NOT NULL,
        "title" text NOT NULL DEFAULT '',
        "image_path" text,
        "image_name" text,
        "image_size" bigint,
        "image_content_type" text,
        "image_modified_at" TIMESTAMP WITH TIME ZONE,
        "image_sha256" character(64),
        "image_width" integer,
        "image_height" integer,
        "image_format" text,
        "image_has_alpha" boolean,
        CONSTRAINT "UQ_photo_slug" UNIQUE ("slug"),
        CONSTRAINT "PK_photo_id" PRIMARY KEY ("id")
      )`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "photo"`)
  }
}
