//! The test corpus: photo-like images (gradients, noise, hard edges, fine
//! texture) encoded by libjpeg-turbo (the `mozjpeg` crate) and by
//! `jpeg-encoder`, and libjpeg-turbo's scaled decode as the reference.

use mozjpeg::{ColorSpace, Compress, Decompress};

/// A small deterministic PRNG (xorshift64*), so the corpus is the same on
/// every run without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An RGB "photo": a sky-to-ground gradient, a few hard-edged shapes, a
/// patch of fine stripes (high frequencies) and sensor-like noise.
pub fn photo(w: usize, h: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let shapes: Vec<(usize, usize, usize, [i32; 3])> = (0..6)
        .map(|_| {
            let c = [0, 0, 0].map(|_: i32| rng.below(256) as i32);
            let r = (w.min(h) / 12).max(2) + rng.below((w.min(h) / 6).max(1) as u64) as usize;
            (
                rng.below(w as u64) as usize,
                rng.below(h as u64) as usize,
                r,
                c,
            )
        })
        .collect();
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let mut px = [
                60.0 + 150.0 * fx,
                90.0 + 120.0 * (1.0 - fy),
                200.0 - 140.0 * fy + 30.0 * (fx * 9.0).sin(),
            ]
            .map(|v| v as i32);
            for &(cx, cy, r, c) in &shapes {
                let (dx, dy) = (x.abs_diff(cx), y.abs_diff(cy));
                if dx * dx + dy * dy < r * r {
                    px = c;
                }
            }
            if x > w * 3 / 5 && y > h * 3 / 5 {
                let stripe = if (x / 2 + y / 3) % 2 == 0 { 40 } else { -40 };
                px = px.map(|v| v + stripe);
            }
            let noise = rng.below(25) as i32 - 12;
            out.extend(px.map(|v| (v + noise).clamp(0, 255) as u8));
        }
    }
    out
}

/// The luminance of an RGB photo, as a grey image.
pub fn gray(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2])) >> 8) as u8)
        .collect()
}

/// A CMYK rendering of an RGB photo, in Adobe's inverted convention
/// (255 = no ink), as Photoshop writes it.
pub fn cmyk(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .flat_map(|p| {
            let k = 255 - p.iter().copied().max().unwrap_or(0);
            let ink = |v: u8| {
                if k == 255 {
                    0
                } else {
                    (u32::from(255 - v - k) * 255 / u32::from(255 - k)) as u8
                }
            };
            [255 - ink(p[0]), 255 - ink(p[1]), 255 - ink(p[2]), 255 - k]
        })
        .collect()
}

/// How libjpeg-turbo is asked to encode.
#[derive(Clone, Copy, Debug)]
pub struct Mozjpeg {
    pub space: ColorSpace,
    pub progressive: bool,
    /// Chroma pixel size per sample (the crate's convention): (2, 2) is 4:2:0.
    pub chroma: (u8, u8),
    pub quality: f32,
}

pub fn encode_mozjpeg(pixels: &[u8], w: usize, h: usize, o: Mozjpeg) -> Vec<u8> {
    let input = match o.space {
        ColorSpace::JCS_YCCK => ColorSpace::JCS_CMYK,
        s => s,
    };
    let mut c = Compress::new(input);
    // libjpeg-turbo's own settings: its standard progressive script, which
    // uses successive approximation for both DC and AC.
    c.set_fastest_defaults();
    c.set_color_space(o.space);
    c.set_size(w, h);
    c.set_quality(o.quality);
    if o.progressive {
        c.set_progressive_mode();
    }
    if o.space == ColorSpace::JCS_YCbCr {
        c.set_chroma_sampling_pixel_sizes(o.chroma, o.chroma);
    }
    let mut started = c.start_compress(Vec::new()).unwrap();
    started.write_scanlines(pixels).unwrap();
    started.finish().unwrap()
}

/// How `jpeg-encoder` is asked to encode (restart intervals, 4:1:1, 4:4:0).
pub fn encode_jpeg_encoder(
    rgb: &[u8],
    w: usize,
    h: usize,
    sampling: jpeg_encoder::SamplingFactor,
    progressive: bool,
    restart: u16,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = jpeg_encoder::Encoder::new(&mut out, 88);
    e.set_sampling_factor(sampling);
    e.set_progressive(progressive);
    if restart > 0 {
        e.set_restart_interval(restart);
    }
    e.encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// libjpeg-turbo's decode at `1 / denom`: RGB (CMYK files through
/// [`reduced_jpeg::cmyk_to_rgb`]) or grey, with its default settings
/// (islow IDCT, fancy upsampling), as `server/src/jobs/decode.rs` calls it.
pub fn libjpeg_decode(jpeg: &[u8], denom: u8) -> (u32, u32, Vec<u8>) {
    let mut d = Decompress::new_mem(jpeg).unwrap();
    d.scale(8 / denom);
    let space = d.color_space();
    let cmyk = matches!(space, ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK);
    let mut started = match space {
        ColorSpace::JCS_GRAYSCALE => d.grayscale().unwrap(),
        _ if cmyk => d.to_colorspace(ColorSpace::JCS_CMYK).unwrap(),
        _ => d.rgb().unwrap(),
    };
    let (w, h) = (started.width() as u32, started.height() as u32);
    let mut px: Vec<u8> = started.read_scanlines().unwrap();
    started.finish().unwrap();
    if cmyk {
        px = px
            .chunks_exact(4)
            .flat_map(|p| reduced_jpeg::cmyk_to_rgb([p[0], p[1], p[2], p[3]], true))
            .collect();
    }
    (w, h, px)
}

/// Peak signal-to-noise ratio in dB (infinite when equal) and the largest
/// difference of one sample.
pub fn psnr(a: &[u8], b: &[u8]) -> (f64, u8) {
    assert_eq!(a.len(), b.len());
    let mut sq = 0f64;
    let mut max = 0u8;
    for (&x, &y) in a.iter().zip(b) {
        let d = x.abs_diff(y);
        max = max.max(d);
        sq += f64::from(d) * f64::from(d);
    }
    let mse = sq / a.len() as f64;
    let db = if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    };
    (db, max)
}

/// (Ah, Al) of every SOS in the file, with (Ss, Se): to check the corpus
/// really has the scan kinds it claims.
pub fn scans(jpeg: &[u8]) -> Vec<(u8, u8, u8, u8)> {
    let mut out = Vec::new();
    let mut i = 2;
    while i + 4 <= jpeg.len() {
        if jpeg[i] != 0xFF || jpeg[i + 1] == 0 || jpeg[i + 1] == 0xFF {
            i += 1;
            continue;
        }
        let marker = jpeg[i + 1];
        if (0xD0..=0xD9).contains(&marker) {
            i += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if marker == 0xDA {
            let n = usize::from(jpeg[i + 4]);
            let p = i + 5 + 2 * n;
            out.push((jpeg[p], jpeg[p + 1], jpeg[p + 2] >> 4, jpeg[p + 2] & 15));
            i += 2 + len;
            // Skip the entropy-coded data to the next marker.
            while i + 1 < jpeg.len()
                && !(jpeg[i] == 0xFF && jpeg[i + 1] != 0 && !(0xD0..=0xD7).contains(&jpeg[i + 1]))
            {
                i += 1;
            }
        } else {
            i += 2 + len;
        }
    }
    out
}

/// The full-size decode of an independent decoder (jpeg-decoder, not
/// libjpeg's code) as RGB or grey. CMYK and YCCK files come from
/// libjpeg-turbo at 1/1 instead: jpeg-decoder's CMYK output does not
/// follow Adobe's inverted convention the way libjpeg does.
pub fn full_size_reference(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut d = jpeg_decoder::Decoder::new(jpeg);
    let px = d.decode().unwrap();
    let info = d.info().unwrap();
    match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::RGB24 => {
            (u32::from(info.width), u32::from(info.height), px)
        }
        _ => libjpeg_decode(jpeg, 1),
    }
}

/// Box (area) downscale by `denom`: each output sample is the mean of the
/// `denom` x `denom` input samples it covers, fewer at the right and bottom
/// edges (the output size rounds up, as libjpeg's does).
pub fn area_downscale(px: &[u8], w: u32, h: u32, channels: usize, denom: u32) -> Vec<u8> {
    let (ow, oh) = (w.div_ceil(denom), h.div_ceil(denom));
    let mut out = Vec::with_capacity((ow * oh) as usize * channels);
    for oy in 0..oh {
        for ox in 0..ow {
            let ys = oy * denom..((oy + 1) * denom).min(h);
            let xs = ox * denom..((ox + 1) * denom).min(w);
            let n = ys.len() as u32 * xs.len() as u32;
            for c in 0..channels {
                let sum: u32 = ys
                    .clone()
                    .flat_map(|y| xs.clone().map(move |x| (y, x)))
                    .map(|(y, x)| u32::from(px[(y * w + x) as usize * channels + c]))
                    .sum();
                out.push(((sum + n / 2) / n) as u8);
            }
        }
    }
    out
}
