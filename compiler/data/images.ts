// A decoded image into model pixels: channels matched (RGB to grey by ITU-R BT.601 luma, grey
// to RGB by repetition), resized to the model's height and width by area averaging (each
// output pixel the mean of the source area it covers), then normalized the way the digits
// ViTs were trained: intensities on load_digits' 0..16 scale, x = round(v / 255 * 16), and
// pixel = (x / 16 - 0.5) / 0.5. With `levels` 0 there is no rounding: pixel = 2 v / 255 - 1.

import type { PngImage } from './png.ts';

export interface PixelSpec {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Intensity levels above 0 the model's training data had (16 for load_digits); 0: none. */
  readonly levels: number;
}

export const DIGITS_PIXELS: PixelSpec = { channels: 1, height: 8, width: 8, levels: 16 };

/** One image as `channels * height * width` model inputs (channel-major). */
export function imagePixels(img: PngImage, spec: PixelSpec): Float32Array {
  const { width: sw, height: sh } = img;
  // sample k of source pixel (x, y) in the target's channels, 0..255
  const sample = (x: number, y: number, k: number): number => {
    const p = (y * sw + x) * img.channels;
    if (img.channels === spec.channels) return img.pixels[p + k]!;
    if (img.channels === 3) return 0.299 * img.pixels[p]! + 0.587 * img.pixels[p + 1]! + 0.114 * img.pixels[p + 2]!;
    return img.pixels[p]!;
  };
  const out = new Float32Array(spec.channels * spec.height * spec.width);
  const fx = sw / spec.width;
  const fy = sh / spec.height;
  for (let k = 0; k < spec.channels; k++) {
    for (let i = 0; i < spec.height; i++) {
      const y0 = i * fy;
      const y1 = (i + 1) * fy;
      for (let j = 0; j < spec.width; j++) {
        const x0 = j * fx;
        const x1 = (j + 1) * fx;
        let sum = 0;
        for (let y = Math.floor(y0); y < Math.min(sh, Math.ceil(y1)); y++) {
          const wy = Math.min(y + 1, y1) - Math.max(y, y0);
          for (let x = Math.floor(x0); x < Math.min(sw, Math.ceil(x1)); x++) {
            const wx = Math.min(x + 1, x1) - Math.max(x, x0);
            sum += wx * wy * sample(x, y, k);
          }
        }
        const v = sum / (fx * fy);
        const unit = spec.levels > 0 ? Math.round((v / 255) * spec.levels) / spec.levels : v / 255;
        out[(k * spec.height + i) * spec.width + j] = (unit - 0.5) / 0.5;
      }
    }
  }
  return out;
}
