//! Attention of a forward pass, in Warmline's own loops over the attention cache.
//!
//! Each (row, head) attends over its cache positions where they lie, as one work item on
//! candle's worker threads (which otherwise wait between matrix products), in loops that
//! `pulp` compiles for the CPU's widest SIMD and picks at run time (safe code: the workspace
//! forbids `unsafe`). Keep those loops plain `for` loops: iterator adapters that collect or
//! fold are not inlined into the dispatched function and would run without the target
//! features. A row's result depends only on the cache, never on how many rows share its pass.

use super::{CResult, Config, Llama, Segment};
use candle_core::Tensor;

impl Llama {
    /// Causal attention of every row of the pass (see the module documentation), `q` `(rows,
    /// n_head * head_dim)` and `k`, `v` `(rows, n_kv_head * head_dim)` as projected: rotates
    /// the queries and keys and writes the keys and values into each segment's cache first,
    /// so a prompt resumed from the prefix cache gets exactly the numbers of one fed whole.
    /// Returns `(rows, n_head * head_dim)`.
    pub(super) fn attention(
        &self,
        l: usize,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        segments: &mut [Segment<'_>],
    ) -> CResult<Tensor> {
        let c = &self.config;
        let (hd, nh, nkv) = (c.head_dim, c.n_head, c.n_kv_head);
        let (qw, kw) = (nh * hd, nkv * hd);
        let mut q = q.flatten_all()?.to_vec1::<f32>()?;
        let mut k = k.flatten_all()?.to_vec1::<f32>()?;
        let v = v.flatten_all()?.to_vec1::<f32>()?;
        // Each segment's new keys and values go into its cache first, as `(n_kv_head, rows,
        // head_dim)` blocks.
        let mut first = 0;
        let mut rows = Vec::new();
        for (i, s) in segments.iter_mut().enumerate() {
            let start = s.cache.len;
            let mut keys = vec![0f32; s.rows * kw];
            let mut values = vec![0f32; s.rows * kw];
            for r in 0..s.rows {
                let row = first + r;
                self.rope_row(&mut q[row * qw..(row + 1) * qw], start + r);
                let k_row = &mut k[row * kw..(row + 1) * kw];
                self.rope_row(k_row, start + r);
                for g in 0..nkv {
                    let to = (g * s.rows + r) * hd;
                    keys[to..to + hd].copy_from_slice(&k_row[g * hd..(g + 1) * hd]);
                    values[to..to + hd]
                        .copy_from_slice(&v[row * kw + g * hd..row * kw + (g + 1) * hd]);
                }
                rows.push((i, start + r + 1));
            }
            let (k_cache, v_cache) = &s.cache.layers[l];
            k_cache.slice_set(
                &Tensor::from_vec(keys, (nkv, s.rows, hd), &self.device)?,
                1,
                start,
            )?;
            v_cache.slice_set(
                &Tensor::from_vec(values, (nkv, s.rows, hd), &self.device)?,
                1,
                start,
            )?;
            first += s.rows;
        }
        let guards: Vec<_> = segments
            .iter()
            .map(|s| {
                let (keys, values) = &s.cache.layers[l];
                (keys.storage_and_layout(), values.storage_and_layout())
            })
            .collect();
        let caches = guards
            .iter()
            .zip(segments.iter())
            .map(|(((keys, kl), (values, vl)), s)| {
                Ok(Cache {
                    keys: cpu_f32(keys, kl)?,
                    values: cpu_f32(values, vl)?,
                    capacity: s.cache.capacity,
                })
            })
            .collect::<CResult<Vec<_>>>()?;
        let mut out = vec![0f32; rows.len() * qw];
        let heads: Vec<std::sync::Mutex<&mut [f32]>> =
            out.chunks_mut(hd).map(std::sync::Mutex::new).collect();
        let group = nh / nkv;
        let scale = 1.0 / (hd as f32).sqrt();
        candle_core::utils::barrier_pool().execute_chunked(heads.len(), |items| {
            for item in items {
                let (row, h) = (item / nh, item % nh);
                let (segment, len) = rows[row];
                let cache = &caches[segment];
                let base = (h / group) * cache.capacity * hd;
                let span = base..base + len * hd;
                let mut out = heads[item].lock().unwrap_or_else(|e| e.into_inner());
                self.simd.dispatch(AttendHead {
                    q: &q[item * hd..(item + 1) * hd],
                    keys: &cache.keys[span.clone()],
                    values: &cache.values[span],
                    scale,
                    out: &mut out,
                });
            }
        });
        drop(heads);
        Tensor::from_vec(out, (rows.len(), qw), &self.device)
    }

    /// Rotary embedding of one row of heads at `position`, in place: adjacent pairs (Llama
    /// GGUF files), or the two halves of each head (Qwen2), as llama.cpp and candle pair them.
    fn rope_row(&self, row: &mut [f32], position: usize) {
        let hd = self.config.head_dim;
        let half = hd / 2;
        let cos = &self.cos[position * half..(position + 1) * half];
        let sin = &self.sin[position * half..(position + 1) * half];
        for head in row.chunks_exact_mut(hd) {
            for i in 0..half {
                let (a, b) = if self.config.rope_halves {
                    (i, i + half)
                } else {
                    (2 * i, 2 * i + 1)
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * cos[i] - x1 * sin[i];
                head[b] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}

/// One segment's cache buffers of a layer, as plain numbers: keys and values `(n_kv_head,
/// capacity, head_dim)`.
struct Cache<'a> {
    keys: &'a [f32],
    values: &'a [f32],
    capacity: usize,
}

/// A contiguous CPU `f32` tensor's numbers.
fn cpu_f32<'a>(
    storage: &'a candle_core::Storage,
    layout: &candle_core::Layout,
) -> CResult<&'a [f32]> {
    match storage {
        candle_core::Storage::Cpu(cpu) if layout.is_contiguous() => {
            Ok(&cpu.as_slice::<f32>()?[layout.start_offset()..])
        }
        _ => candle_core::bail!("the decoding path needs contiguous CPU tensors"),
    }
}

/// One head's attention for one new row: `q` and `out` are `head_dim` long, `keys` and
/// `values` the head's `len` cached rows (`len * head_dim`). pulp inlines it into a function
/// built for the SIMD the CPU has, where the loops vectorize.
struct AttendHead<'a> {
    q: &'a [f32],
    keys: &'a [f32],
    values: &'a [f32],
    scale: f32,
    out: &'a mut [f32],
}

impl pulp::WithSimd for AttendHead<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        // Plain loops only: iterator adapters that collect or fold are not inlined here, and
        // would run without the target features.
        let hd = self.q.len();
        let mut weights = vec![0f32; self.keys.len() / hd];
        let mut max = f32::NEG_INFINITY;
        for (w, key) in weights.iter_mut().zip(self.keys.chunks_exact(hd)) {
            *w = dot(self.q, key) * self.scale;
            max = max.max(*w);
        }
        let mut sum = 0.0;
        for w in weights.iter_mut() {
            *w = (*w - max).exp();
            sum += *w;
        }
        self.out.fill(0.0);
        for (w, value) in weights.iter().zip(self.values.chunks_exact(hd)) {
            let w = w / sum;
            for (o, x) in self.out.iter_mut().zip(value) {
                *o += w * x;
            }
        }
    }
}

/// A dot product in 16 independent lanes (so the compiler can use vector registers).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let mut total = 0.0;
    for (x, y) in a_chunks.remainder().iter().zip(b_chunks.remainder()) {
        total += x * y;
    }
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += ca[i] * cb[i];
        }
    }
    for x in acc {
        total += x;
    }
    total
}

/// The rotary tables, `(context_length, head_dim / 2)` cosines and sines, row after row.
pub(super) fn rotary_tables(config: &Config) -> (Vec<f32>, Vec<f32>) {
    // In f32, as llama.cpp and candle compute them: the model was checked against those.
    let half = config.head_dim / 2;
    let inverse: Vec<f32> = (0..half)
        .map(|i| {
            1.0 / config
                .rope_base
                .powf((2 * i) as f32 / config.head_dim as f32)
        })
        .collect();
    let n = config.context_length;
    let mut cos = Vec::with_capacity(n * half);
    let mut sin = Vec::with_capacity(n * half);
    for pos in 0..n {
        for f in &inverse {
            let angle = pos as f32 * f;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    (cos, sin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::Linear;
    use candle_core::quantized::QMatMul;
    use candle_core::{DType, Device};

    /// Numbers in [-1, 1) from a fixed seed.
    fn numbers(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn one_heads_attention_is_softmax_weighted_values() {
        let (hd, len) = (64, 37);
        let q = numbers(hd, 1);
        let keys = numbers(len * hd, 2);
        let values = numbers(len * hd, 3);
        let scale = 0.125;
        let mut out = vec![0f32; hd];
        pulp::Arch::new().dispatch(AttendHead {
            q: &q,
            keys: &keys,
            values: &values,
            scale,
            out: &mut out,
        });
        // The definition, in f64.
        let scores: Vec<f64> = keys
            .chunks(hd)
            .map(|k| {
                q.iter()
                    .zip(k)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum::<f64>()
                    * 0.125
            })
            .collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = exp.iter().sum();
        for d in 0..hd {
            let want: f64 = exp
                .iter()
                .zip(values.chunks(hd))
                .map(|(w, v)| w / total * v[d] as f64)
                .sum();
            assert!(
                (out[d] as f64 - want).abs() < 1e-5,
                "{d}: {} vs {want}",
                out[d]
            );
        }
    }

    #[test]
    fn the_rotary_embedding_pairs_as_candle_does() {
        for halves in [false, true] {
            let config = Config {
                architecture: "test".into(),
                n_layer: 1,
                hidden: 128,
                n_head: 2,
                n_kv_head: 1,
                head_dim: 64,
                rms_eps: 1e-5,
                rope_base: 10_000.0,
                rope_halves: halves,
                context_length: 16,
                vocab: 8,
            };
            let (cos, sin) = rotary_tables(&config);
            let position = 11;
            let row = numbers(2 * 64, 4);
            // candle's own kernels on the same row, as (batch, heads, rows, head_dim).
            let x = Tensor::from_vec(row.clone(), (1, 2, 1, 64), &Device::Cpu).unwrap();
            let c = Tensor::from_slice(
                &cos[position * 32..(position + 1) * 32],
                (1, 32),
                &Device::Cpu,
            )
            .unwrap();
            let s = Tensor::from_slice(
                &sin[position * 32..(position + 1) * 32],
                (1, 32),
                &Device::Cpu,
            )
            .unwrap();
            let want = if halves {
                candle_nn::rotary_emb::rope(&x, &c, &s)
            } else {
                candle_nn::rotary_emb::rope_i(&x, &c, &s)
            }
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
            let model = Llama {
                config,
                embeddings: Tensor::zeros((1, 1), DType::F32, &Device::Cpu).unwrap(),
                layers: Vec::new(),
                norm: Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap(),
                output: Linear {
                    quantized: QMatMul::Tensor(
                        Tensor::zeros((1, 1), DType::F32, &Device::Cpu).unwrap(),
                    ),
                    padded_in: 1,
                    dense: None,
                    bias: None,
                },
                cos,
                sin,
                simd: pulp::Arch::new(),
                device: Device::Cpu,
            };
            let mut ours = row;
            model.rope_row(&mut ours, position);
            for (a, b) in ours.iter().zip(&want) {
                assert!((a - b).abs() < 1e-6, "halves {halves}: {a} vs {b}");
            }
        }
    }
}
