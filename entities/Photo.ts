/** @module The demo's Photo: a row with an image column (dimensions and format in real columns). */
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { ImageColumn, type StoredImage } from '../src/images'

@Entity({ name: 'photo' })
export class Photo {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number

  @Column({ type: 'text', unique: true })
  slug!: string

  @Column({ type: 'text', default: '' })
  title!: string

  @ImageColumn()
  image!: StoredImage | null
}
