import type { MigrationInterface, QueryRunner } from 'typeorm'

/** Creates the demo's document table, with the real columns of its two file columns. */
export class CreateDocument1764000000000 implements MigrationInterface {
  name = 'CreateDocument1764000000000'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "document" (
        "id" SERIAL NOT NULL,
        "slug" text NOT NULL,
        "title" text NOT NULL DEFAULT '',
        "file_path" text,
        "file_name" text,
        "file_size" bigint,
        "file_content_type" text,
        "file_modified_at" TIMESTAMP WITH TIME ZONE,
        "file_sha256" character(64),
        "another_file_path" text,
        "another_file_name" text,
        "another_file_size" bigint,
        "another_file_content_type" text,
        "another_file_modified_at" TIMESTAMP WITH TIME ZONE,
        "another_file_sha256" character(64),
        "basename" text,
        CONSTRAINT "UQ_document_slug" UNIQUE ("slug"),
        CONSTRAINT "PK_document_id" PRIMARY KEY ("id")
      )`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "document"`)
  }
}
