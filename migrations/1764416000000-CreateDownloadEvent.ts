import type { MigrationInterface, QueryRunner } from 'typeorm'

/** Creates the demo's download audit: one row per download event, counted per document by slug. */
export class CreateDownloadEvent1764416000000 implements MigrationInterface {
  name = 'CreateDownloadEvent1764416000000'

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "download_event" (
        "id" BIGSERIAL NOT NULL,
        "at" TIMESTAMP WITH TIME ZONE NOT NULL,
        "route" text NOT NULL,
        "slug" text,
        "method" text NOT NULL,
        "status" smallint NOT NULL,
        "bytes" bigint,
        "complete" boolean NOT NULL,
        "duration_ms" integer NOT NULL,
        "handed_off" boolean NOT NULL,
        CONSTRAINT "PK_download_event_id" PRIMARY KEY ("id")
      )`)
    await queryRunner.query(`CREATE INDEX "IDX_download_event_slug" ON "download_event" ("slug")`)
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "download_event"`)
  }
}
