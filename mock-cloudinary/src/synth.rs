//! Synthetic, camera-like photos: a sky gradient with clouds over a textured
//! ground with hard-edged "buildings", sensor-like grain, drawn at half
//! resolution and doubled. JPEG quality is searched so the file lands near a
//! target size.
//!
//! Why this shape: JPEG size and decode cost depend on the amount of
//! high-frequency detail. A flat or purely smooth picture compresses 10-50x
//! better than a real photo; grain plus edges plus mid-scale texture gives
//! real-photo bits per pixel at real-photo qualities (75-95).
//!
//! Speed: the crate is built without optimisation in tests while its
//! dependencies are optimised, so the per-pixel work done here is kept to a
//! half-resolution scene and one cheap pass of grain (a 4000x3000 photo takes
//! about 2 s in debug, 0.3 s in release).

use fast_image_resize::{PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};
use rand::{Rng, SeedableRng, rngs::SmallRng};

use crate::encoding::{Encoding, encode_jpeg};
use crate::grammar::Format;
use crate::transform::{Rgb, encode};

/// Size accepted for a synthetic JPEG: within this share of the target.
pub const SIZE_TOLERANCE: f64 = 0.15;

/// The grain-free half-resolution scene of a synthetic photo: everything
/// but the grain. Every catalogue number of one kind shares it, so a new
/// number costs only grain, upscale and encode.
pub struct Scene {
    half: Rgb,
    width: u32,
    height: u32,
    grain: u8,
    seed: u64,
}

impl Scene {
    /// The scene of a `width` x `height` photo. `grain` (0..=64) sets the
    /// amplitude of the noise added by [`Scene::render`].
    pub fn new(width: u32, height: u32, seed: u64, grain: u8) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let hw = width.div_ceil(2).max(2);
        let hh = height.div_ceil(2).max(2);
        let mut half = scene(hw, hh, &mut rng);
        draw_buildings(&mut half, &mut rng);
        Scene {
            half,
            width,
            height,
            grain,
            seed,
        }
    }

    /// Bytes held by the scene.
    pub fn bytes(&self) -> u64 {
        self.half.pixels.len() as u64
    }

    /// The full-size photo number `variant` of this scene: the grain is
    /// drawn from its own seed, so two variants differ in nearly every
    /// pixel while their statistics (and so their JPEG size and decode
    /// cost) are the same.
    pub fn render(&self, variant: u64) -> Rgb {
        let mut half = Rgb {
            width: self.half.width,
            height: self.half.height,
            pixels: self.half.pixels.clone(),
        };
        let grain_seed = self.seed ^ variant.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        add_grain(
            &mut half,
            self.grain,
            &mut SmallRng::seed_from_u64(grain_seed),
        );
        // Grain at half resolution doubled by the upscale reads like the
        // demosaiced, denoised noise of a phone photo. The upscale is
        // nearest-neighbour on purpose: fast_image_resize's convolutions are
        // generic and would run unoptimised in this crate's debug build.
        upscale(half, self.width, self.height)
    }
}

/// Generate the RGB pixels of a synthetic photo (variant 0 of its scene).
/// `grain` (0..=64) sets the amplitude of full-resolution noise.
pub fn synthesize(width: u32, height: u32, seed: u64, grain: u8) -> Rgb {
    Scene::new(width, height, seed, grain).render(0)
}

/// A half-resolution scene: sky gradient with soft clouds, a wavy
/// horizon, ground with fractal texture.
fn scene(w: u32, h: u32, rng: &mut SmallRng) -> Rgb {
    let coarse = Noise::new(w, h, 96, rng);
    let middle = Noise::new(w, h, 24, rng);
    let fine = Noise::new(w, h, 5, rng);
    let phase: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let sky_top = [
        rng.random_range(40..90) as f32,
        rng.random_range(90..140) as f32,
        200.0,
    ];
    let ground = [
        rng.random_range(70..130) as f32,
        rng.random_range(80..120) as f32,
        60.0,
    ];
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        let v = y as f32 / h as f32;
        for x in 0..w {
            let u = x as f32 / w as f32;
            let c = coarse.at(x, y);
            let m = middle.at(x, y);
            let f = fine.at(x, y);
            let horizon = 0.42 + 0.07 * (u * 8.0 + phase).sin() + 0.1 * (c - 0.5);
            let rgb = if v < horizon {
                let t = v / horizon;
                let cloud = (m * 0.6 + c * 0.4 - 0.45).max(0.0) * 200.0;
                [
                    sky_top[0] + t * 120.0 + cloud,
                    sky_top[1] + t * 90.0 + cloud,
                    sky_top[2] + t * 40.0 + cloud,
                ]
            } else {
                let shade = 0.45 + 0.35 * c + 0.35 * m + 0.3 * f;
                let depth = 0.7 + 0.5 * (v - horizon);
                [
                    ground[0] * shade * depth,
                    ground[1] * shade * depth,
                    ground[2] * shade * depth + 20.0 * f,
                ]
            };
            pixels.extend(rgb.map(|ch| ch.clamp(0.0, 255.0) as u8));
        }
    }
    Rgb {
        width: w,
        height: h,
        pixels,
    }
}

/// Hard-edged rectangles with window grids: the edges JPEG pays for.
fn draw_buildings(img: &mut Rgb, rng: &mut SmallRng) {
    let (w, h) = (img.width, img.height);
    let count = rng.random_range(6..14);
    for _ in 0..count {
        let bw = rng.random_range(w / 16..=w / 5).max(1);
        let bh = rng.random_range(h / 8..=h / 2).max(1);
        let x0 = rng.random_range(0..w.saturating_sub(bw).max(1));
        let y0 = rng.random_range(h / 4..h.saturating_sub(bh / 2).max(h / 4 + 1));
        let wall: [u8; 3] = [
            rng.random_range(60..220),
            rng.random_range(60..200),
            rng.random_range(50..190),
        ];
        let window: [u8; 3] = [
            rng.random_range(10..80),
            rng.random_range(20..90),
            rng.random_range(30..120),
        ];
        let cell = rng.random_range(6..18u32);
        for y in y0..(y0 + bh).min(h) {
            let row = (y * w) as usize * 3;
            let in_row = (y - y0) % cell > cell / 3;
            for x in x0..(x0 + bw).min(w) {
                let is_window = in_row && (x - x0) % cell > cell / 3;
                let colour = if is_window { window } else { wall };
                let i = row + x as usize * 3;
                img.pixels[i..i + 3].copy_from_slice(&colour);
            }
        }
    }
}

fn upscale(low: Rgb, width: u32, height: u32) -> Rgb {
    let (lw, lh) = (low.width, low.height);
    let src = Image::from_vec_u8(lw, lh, low.pixels, PixelType::U8x3)
        .expect("buffer sized from its dimensions");
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Nearest);
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .expect("same pixel type on both sides");
    Rgb {
        width,
        height,
        pixels: dst.into_vec(),
    }
}

/// Sensor-like grain: a random table added with a per-row offset so the
/// pattern does not repeat visibly (and JPEG cannot exploit repetition).
fn add_grain(img: &mut Rgb, grain: u8, rng: &mut SmallRng) {
    const TABLE: usize = 1 << 16;
    let amp = i16::from(grain);
    let table: Vec<i16> = (0..TABLE + img.width as usize * 3)
        .map(|_| rng.random_range(-amp..=amp))
        .collect();
    let row_len = img.width as usize * 3;
    for (y, row) in img.pixels.chunks_exact_mut(row_len).enumerate() {
        let offset = (y.wrapping_mul(7919) ^ (y >> 3)) % TABLE;
        let noise = &table[offset..offset + row_len];
        for (p, n) in row.iter_mut().zip(noise) {
            *p = (i16::from(*p) + n).clamp(0, 255) as u8;
        }
    }
}

/// Bilinear value noise on a lattice of `cell` pixels.
struct Noise {
    cell: u32,
    cols: u32,
    values: Vec<f32>,
}

impl Noise {
    fn new(w: u32, h: u32, cell: u32, rng: &mut SmallRng) -> Self {
        let cols = w / cell + 2;
        let rows = h / cell + 2;
        let values = (0..cols * rows).map(|_| rng.random::<f32>()).collect();
        Noise { cell, cols, values }
    }

    fn at(&self, x: u32, y: u32) -> f32 {
        let (cx, cy) = (x / self.cell, y / self.cell);
        let fx = (x % self.cell) as f32 / self.cell as f32;
        let fy = (y % self.cell) as f32 / self.cell as f32;
        let i = (cy * self.cols + cx) as usize;
        let c = self.cols as usize;
        let top = self.values[i] + (self.values[i + 1] - self.values[i]) * fx;
        let bottom = self.values[i + c] + (self.values[i + c + 1] - self.values[i + c]) * fx;
        top + (bottom - top) * fy
    }
}

/// Grain for a target bits-per-pixel: denser files need more detail to get
/// there at a realistic quality.
pub fn grain_for(width: u32, height: u32, target_bytes: u64) -> u8 {
    let bpp = target_bytes as f64 * 8.0 / (f64::from(width) * f64::from(height));
    (bpp * 9.0).clamp(2.0, 40.0) as u8
}

/// A synthetic JPEG of `width` x `height` whose size is within
/// [`SIZE_TOLERANCE`] of `target_bytes` where the quality range allows.
/// Also returns the quality chosen.
pub fn synthesize_jpeg(
    width: u32,
    height: u32,
    target_bytes: u64,
    seed: u64,
) -> Result<(Vec<u8>, u8), image::ImageError> {
    let rgb = synthesize(width, height, seed, grain_for(width, height, target_bytes));
    let quality = quality_for(&rgb, target_bytes)?;
    Ok((encode(&rgb, Format::Jpeg, quality)?, quality))
}

/// The JPEG quality at which `rgb` lands within [`SIZE_TOLERANCE`] of
/// `target_bytes` where the quality range allows: searched on a sample,
/// then corrected once on the full image.
pub fn quality_for(rgb: &Rgb, target_bytes: u64) -> Result<u8, image::ImageError> {
    quality_for_encoding(rgb, target_bytes, &Encoding::default())
}

/// [`quality_for`] for a photo stored as `encoding` (progressive scans,
/// subsampling and colour model change the size at a given quality).
pub fn quality_for_encoding(
    rgb: &Rgb,
    target_bytes: u64,
    encoding: &Encoding,
) -> Result<u8, image::ImageError> {
    let quality = search_quality(rgb, target_bytes, encoding)?;
    let mut best = quality;
    // One correction on the full image if the sample's estimate missed.
    let miss = encode_jpeg(rgb, quality, encoding)?.len() as f64 / target_bytes as f64;
    if !(1.0 - SIZE_TOLERANCE / 2.0..=1.0 + SIZE_TOLERANCE / 2.0).contains(&miss) {
        let step: i16 = if miss > 1.0 { -4 } else { 4 };
        let q = (i16::from(quality) + step).clamp(5, 98) as u8;
        let retry = encode_jpeg(rgb, q, encoding)?;
        if (retry.len() as f64 / target_bytes as f64 - 1.0).abs() < (miss - 1.0).abs() {
            best = q;
        }
    }
    Ok(best)
}

/// Search quality on a sample of horizontal bands (an eighth of the image)
/// so most encodes are cheap; JPEG size scales with area for content that
/// is statistically alike across the frame.
fn search_quality(
    rgb: &Rgb,
    target_bytes: u64,
    encoding: &Encoding,
) -> Result<u8, image::ImageError> {
    let sample = bands(rgb);
    let scale = f64::from(sample.height) / f64::from(rgb.height);
    let target = target_bytes as f64 * scale;
    let (mut lo, mut hi) = (5u8, 98u8);
    let mut best = (f64::MAX, 85u8);
    while lo <= hi {
        let q = lo + (hi - lo) / 2;
        let size = encode_jpeg(&sample, q, encoding)?.len() as f64;
        let miss = (size / target - 1.0).abs();
        if miss < best.0 {
            best = (miss, q);
        }
        if miss < 0.03 {
            break;
        }
        if size > target {
            hi = q - 1;
        } else {
            lo = q + 1;
        }
    }
    Ok(best.1)
}

/// Bands of 16 rows (JPEG MCU height), one in every 128 rows.
fn bands(rgb: &Rgb) -> Rgb {
    let row_len = rgb.width as usize * 3;
    let band = 16.min(rgb.height);
    let count = (rgb.height / 128).max(1);
    let stride = rgb.height / count;
    let mut pixels = Vec::with_capacity(row_len * (band * count) as usize);
    for i in 0..count {
        let start = (i * stride) as usize * row_len;
        pixels.extend_from_slice(&rgb.pixels[start..start + band as usize * row_len]);
    }
    Rgb {
        width: rgb.width,
        height: band * count,
        pixels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_pixels() {
        let a = synthesize(64, 48, 7, 10);
        let b = synthesize(64, 48, 7, 10);
        assert_eq!(a.pixels, b.pixels);
        assert_ne!(a.pixels, synthesize(64, 48, 8, 10).pixels);
    }

    #[test]
    fn variants_of_one_scene_differ_in_pixels_not_in_size() {
        let scene = Scene::new(320, 240, 3, 10);
        let (a, b) = (scene.render(1), scene.render(2));
        assert_eq!(a.pixels, scene.render(1).pixels);
        let differing = a
            .pixels
            .iter()
            .zip(&b.pixels)
            .filter(|(x, y)| x != y)
            .count();
        assert!(differing > a.pixels.len() / 2, "{differing}");
        let q = quality_for(&a, 20_000).unwrap();
        let (ja, jb) = (
            encode(&a, Format::Jpeg, q).unwrap().len() as f64,
            encode(&b, Format::Jpeg, q).unwrap().len() as f64,
        );
        assert!((ja / jb - 1.0).abs() < 0.03, "{ja} vs {jb}");
    }

    #[test]
    fn small_jpeg_lands_near_its_target() {
        let (jpeg, _q) = synthesize_jpeg(640, 480, 60_000, 1).unwrap();
        let ratio = jpeg.len() as f64 / 60_000.0;
        assert!((0.85..=1.15).contains(&ratio), "{} bytes", jpeg.len());
    }
}
