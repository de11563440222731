//! Warmline's own forward pass for Llama-shaped GGUF models (`llama`: SmolLM2; `qwen2`:
//! Qwen2.5), written on candle's tensor ops.
//!
//! Why not `candle_transformers`' quantized models: they keep one attention cache inside the
//! weights, grown by concatenation on every token, and run the quantized kernels for every
//! matrix product. Here:
//!
//! - the attention cache ([`KvCache`]) belongs to a sequence, is preallocated and written in
//!   place, and can be copied (the prefix cache) without touching the weights;
//! - a forward pass takes rows from several sequences at once ([`Segment`]s), so the
//!   expensive matrix products of eight conversations are one product (batching);
//! - candle's fastest CPU kernels (AVX-512 VNNI on repacked 8-bit weights) need the inner
//!   dimension to be a multiple of 256; SmolLM2's is 576. Such `Q8_0` matrices are padded with
//!   zero columns at load (exactly the same products), which made prompts 7× and single-token
//!   products 4× faster here (`benches/RESULTS.md`);
//! - without VNNI, small models keep a dense `f32` copy of each weight matrix instead: long
//!   prompts go through the dense matrix kernel, single tokens through the quantized one.

use crate::ModelError;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{DType, Device, IndexOp, Module, Tensor};

/// Models whose dense copy would take more than this keep only their quantized weights.
const DENSE_MAX_BYTES: u64 = 1 << 30;
/// Longest context supported, whatever the model says (memory for the rotary tables).
const MAX_CONTEXT: usize = 32_768;

type CResult<T> = candle_core::Result<T>;

/// The shape of the network, read from the GGUF metadata.
#[derive(Debug, Clone)]
pub struct Config {
    pub architecture: String,
    pub n_layer: usize,
    pub hidden: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub rms_eps: f32,
    pub rope_base: f32,
    /// Rotary embedding on the two halves of a head (Qwen2) instead of adjacent pairs
    /// (Llama GGUF files, whose q/k rows are permuted for it).
    pub rope_halves: bool,
    pub context_length: usize,
    pub vocab: usize,
}

impl Config {
    fn from_gguf(content: &gguf_file::Content) -> Result<Self, String> {
        let architecture = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let rope_halves = match architecture.as_str() {
            "llama" => false,
            "qwen2" => true,
            other => return Err(format!("unsupported architecture {other:?}")),
        };
        let get = |key: &str| -> Option<&gguf_file::Value> {
            content.metadata.get(&format!("{architecture}.{key}"))
        };
        let number = |key: &str| -> Result<usize, String> {
            get(key)
                .and_then(|v| v.to_u32().ok())
                .map(|v| v as usize)
                .ok_or_else(|| format!("metadata {architecture}.{key} is missing"))
        };
        let n_head = number("attention.head_count")?;
        let n_kv_head = number("attention.head_count_kv")?;
        let hidden = number("embedding_length")?;
        if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 || hidden % n_head != 0 {
            return Err(format!(
                "inconsistent heads: {n_head} heads, {n_kv_head} key/value heads, width {hidden}"
            ));
        }
        let head_dim = hidden / n_head;
        let vocab = content
            .tensor_infos
            .get("token_embd.weight")
            .map(|t| t.shape.dims()[0])
            .ok_or("tensor token_embd.weight is missing")?;
        Ok(Self {
            n_layer: number("block_count")?,
            hidden,
            n_head,
            n_kv_head,
            head_dim,
            rms_eps: get("attention.layer_norm_rms_epsilon")
                .and_then(|v| v.to_f32().ok())
                .unwrap_or(1e-5),
            rope_base: get("rope.freq_base")
                .and_then(|v| v.to_f32().ok())
                .unwrap_or(10_000.0),
            rope_halves,
            context_length: number("context_length").unwrap_or(4096).min(MAX_CONTEXT),
            vocab,
            architecture,
        })
    }
}

/// The block of values candle's VNNI kernels quantize activations in.
const VNNI_BLOCK: usize = 256;

/// Whether this CPU runs candle's repacked 8-bit kernels (AVX-512 VNNI or AVX-VNNI).
fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        (std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni"))
            || (std::arch::is_x86_feature_detected!("avxvnni")
                && std::arch::is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A weight matrix `(out, in)`: quantized, plus a dense copy for many-row products when kept.
/// The quantized matrix may have extra zero columns (`padded_in > in`); its input must be
/// padded to match ([`Llama::pad`]).
struct Linear {
    quantized: QMatMul,
    padded_in: usize,
    dense: Option<Tensor>,
    bias: Option<Tensor>,
}

impl Linear {
    /// `x` is `(rows, in)` for the dense path, `(rows, padded_in)` for the quantized one.
    fn forward(&self, x: &Tensor, padded: &Tensor, dense: bool) -> CResult<Tensor> {
        let y = match &self.dense {
            Some(w) if dense => x.matmul(&w.t()?)?,
            _ => self.quantized.forward(padded)?,
        };
        self.add_bias(y)
    }

    fn add_bias(&self, y: Tensor) -> CResult<Tensor> {
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    fn qtensor(&self) -> Option<&QTensor> {
        match &self.quantized {
            QMatMul::QTensor(q) => Some(q),
            _ => None,
        }
    }
}

/// Several products of the same input (q/k/v, gate/up): one quantization of the input and
/// one parallel region when candle's fused kernel applies, else one product each.
fn project(linears: &[&Linear], x: &Tensor, padded: &Tensor, dense: bool) -> CResult<Vec<Tensor>> {
    if !dense || linears.iter().any(|l| l.dense.is_none()) {
        let tensors: Option<Vec<&QTensor>> = linears.iter().map(|l| l.qtensor()).collect();
        if let Some(tensors) = tensors
            && let Some(outputs) = QTensor::gemv_fused_shared_lhs(&tensors, padded)?
        {
            return outputs
                .into_iter()
                .zip(linears)
                .map(|(y, l)| l.add_bias(y))
                .collect();
        }
    }
    linears
        .iter()
        .map(|l| l.forward(x, padded, dense))
        .collect()
}

/// `Q8_0` weights with an inner dimension VNNI kernels cannot take get zero columns up to the
/// next multiple of 256 (Q8_0 re-quantizes its own values exactly: same scale, same integers).
fn pad_for_vnni(q: QTensor, vnni: bool, device: &Device) -> CResult<(QTensor, usize)> {
    let (_, k) = q.shape().dims2()?;
    if !vnni || q.dtype() != GgmlDType::Q8_0 || k % VNNI_BLOCK == 0 {
        return Ok((q, k));
    }
    let padded_k = k.div_ceil(VNNI_BLOCK) * VNNI_BLOCK;
    let w = q.dequantize(device)?.pad_with_zeros(1, 0, padded_k - k)?;
    Ok((QTensor::quantize(&w, GgmlDType::Q8_0)?, padded_k))
}

struct Layer {
    attn_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// The attention cache of one sequence: keys and values of every position so far, per layer,
/// in buffers that grow by doubling and are written in place.
pub struct KvCache {
    /// Per layer: keys and values, each `(n_kv_head, capacity, head_dim)`.
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// An independent copy of the first `len` positions (a cached prefix to resume from).
    pub fn copy_prefix(&self, len: usize) -> CResult<Self> {
        let len = len.min(self.len);
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| {
                let copy = |t: &Tensor| buffer(Some(t), len, t.dims3()?, t.device());
                Ok((copy(k)?, copy(v)?))
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(Self {
            layers,
            len,
            capacity: self.capacity,
        })
    }

    /// Makes room for `extra` more positions (the first call allocates every layer).
    fn reserve(&mut self, extra: usize, config: &Config, device: &Device) -> CResult<()> {
        let needed = self.len + extra;
        if needed <= self.capacity && !self.layers.is_empty() {
            return Ok(());
        }
        let capacity = needed
            .next_power_of_two()
            .max(256)
            .min(config.context_length.max(needed));
        let shape = (config.n_kv_head, capacity, config.head_dim);
        let len = self.len;
        self.layers = (0..config.n_layer)
            .map(|l| {
                let old = self.layers.get(l);
                Ok((
                    buffer(old.map(|(k, _)| k), len, shape, device)?,
                    buffer(old.map(|(_, v)| v), len, shape, device)?,
                ))
            })
            .collect::<CResult<Vec<_>>>()?;
        self.capacity = capacity;
        Ok(())
    }
}

/// A zeroed `(heads, capacity, head_dim)` cache buffer holding the first `len` positions of
/// `old`, if given.
fn buffer(
    old: Option<&Tensor>,
    len: usize,
    shape: (usize, usize, usize),
    device: &Device,
) -> CResult<Tensor> {
    let fresh = Tensor::zeros(shape, DType::F32, device)?;
    if let Some(old) = old
        && len > 0
    {
        fresh.slice_set(&old.narrow(1, 0, len)?.contiguous()?, 1, 0)?;
    }
    Ok(fresh)
}

/// Rows of one sequence in a batched forward pass: `rows` consecutive input tokens, the first
/// at position `cache.len()` of that sequence.
pub struct Segment<'a> {
    pub cache: &'a mut KvCache,
    pub rows: usize,
}

/// Choices made when loading a model.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Keep a dense `f32` copy of each matrix for prompts (`None`: when the VNNI kernels are
    /// not in use and the copy fits in 1 GiB).
    pub dense: Option<bool>,
    /// Pad 8-bit matrices for candle's VNNI kernels when the CPU has them (see the module
    /// documentation). Off: the exact kernels of `candle_transformers`' quantized models.
    pub pad_for_vnni: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            dense: None,
            pad_for_vnni: true,
        }
    }
}

/// A Llama-shaped model (see the module documentation).
pub struct Llama {
    config: Config,
    embeddings: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Linear,
    /// `(context_length, head_dim / 2)` rotary tables, row after row.
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// The widest SIMD this CPU has, for the attention loops.
    simd: pulp::Arch,
    device: Device,
}

impl Llama {
    /// Reads the weights of a GGUF file whose header is `content`.
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        options: LoadOptions,
        device: &Device,
    ) -> Result<Self, String> {
        let config = Config::from_gguf(content)?;
        let parameters: u64 = content
            .tensor_infos
            .values()
            .map(|t| t.shape.elem_count() as u64)
            .sum();
        let vnni = has_vnni() && options.pad_for_vnni;
        let dense = options
            .dense
            .unwrap_or(!vnni && parameters * 4 <= DENSE_MAX_BYTES);
        let tensor = |name: &str, reader: &mut R| {
            content
                .tensor(reader, name, device)
                .map_err(|e| format!("tensor {name}: {e}"))
        };
        let vector = |name: &str, reader: &mut R| {
            tensor(name, reader)?
                .dequantize(device)
                .map_err(|e| format!("tensor {name}: {e}"))
        };
        let linear = |name: &str, bias: bool, reader: &mut R| -> Result<Linear, String> {
            let q = tensor(&format!("{name}.weight"), reader)?;
            let dense_copy = if dense {
                Some(q.dequantize(device).map_err(|e| format!("{name}: {e}"))?)
            } else {
                None
            };
            let (q, padded_in) =
                pad_for_vnni(q, vnni, device).map_err(|e| format!("{name}: {e}"))?;
            let bias = if bias {
                Some(vector(&format!("{name}.bias"), reader)?)
            } else {
                None
            };
            Ok(Linear {
                quantized: QMatMul::from_qtensor(q).map_err(|e| format!("{name}: {e}"))?,
                padded_in,
                dense: dense_copy,
                bias,
            })
        };
        let biased = config.architecture == "qwen2";
        let mut layers = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let p = format!("blk.{i}");
            layers.push(Layer {
                attn_norm: vector(&format!("{p}.attn_norm.weight"), reader)?,
                q: linear(&format!("{p}.attn_q"), biased, reader)?,
                k: linear(&format!("{p}.attn_k"), biased, reader)?,
                v: linear(&format!("{p}.attn_v"), biased, reader)?,
                o: linear(&format!("{p}.attn_output"), false, reader)?,
                ffn_norm: vector(&format!("{p}.ffn_norm.weight"), reader)?,
                gate: linear(&format!("{p}.ffn_gate"), false, reader)?,
                up: linear(&format!("{p}.ffn_up"), false, reader)?,
                down: linear(&format!("{p}.ffn_down"), false, reader)?,
            });
        }
        let embedding_q = tensor("token_embd.weight", reader)?;
        let embeddings = embedding_q
            .dequantize(device)
            .map_err(|e| format!("token_embd.weight: {e}"))?;
        // The output projection only ever sees one row per sequence: quantized only.
        let output_q = if content.tensor_infos.contains_key("output.weight") {
            tensor("output.weight", reader)?
        } else {
            embedding_q
        };
        let (output_q, padded_in) =
            pad_for_vnni(output_q, vnni, device).map_err(|e| format!("output: {e}"))?;
        let output = Linear {
            quantized: QMatMul::from_qtensor(output_q).map_err(|e| format!("output: {e}"))?,
            padded_in,
            dense: None,
            bias: None,
        };
        let (cos, sin) = rotary_tables(&config);
        Ok(Self {
            simd: pulp::Arch::new(),
            norm: vector("output_norm.weight", reader)?,
            config,
            embeddings,
            layers,
            output,
            cos,
            sin,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether prompts use the dense weight copies.
    pub fn has_dense_weights(&self) -> bool {
        self.layers.first().is_some_and(|l| l.q.dense.is_some())
    }

    /// An empty attention cache for a new sequence.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: Vec::new(),
            len: 0,
            capacity: 0,
        }
    }

    /// One forward pass over the rows of several sequences: `tokens` holds each segment's
    /// rows in order. Returns the logits after each segment's last row, `(segments, vocab)`,
    /// and advances each segment's cache.
    pub fn forward(
        &self,
        tokens: &[u32],
        segments: &mut [Segment<'_>],
    ) -> Result<Tensor, ModelError> {
        self.forward_inner(tokens, segments)
            .map_err(|e| ModelError::Internal(format!("generation: {e}")))
    }

    fn forward_inner(&self, tokens: &[u32], segments: &mut [Segment<'_>]) -> CResult<Tensor> {
        let c = &self.config;
        let rows: usize = segments.iter().map(|s| s.rows).sum();
        if rows != tokens.len() || segments.iter().any(|s| s.rows == 0) {
            candle_core::bail!("{} tokens for segments of {rows} rows", tokens.len());
        }
        for s in segments.iter_mut() {
            if s.cache.len + s.rows > c.context_length {
                candle_core::bail!(
                    "the conversation is longer than the model's context ({} tokens)",
                    c.context_length
                );
            }
            s.cache.reserve(s.rows, c, &self.device)?;
        }
        // Prompt rows take the dense weights; a batch of single next tokens the quantized ones.
        // (Deciding by pass, not by row count, keeps a prompt's numbers the same whether or
        // not part of it came from the prefix cache.)
        let dense = segments.iter().any(|s| s.rows > 1);
        let ids = Tensor::new(tokens, &self.device)?;
        let mut x = self.embeddings.index_select(&ids, 0)?;
        for (l, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, c.rms_eps)?;
            let hp = pad(&h, layer.q.padded_in)?;
            let [q, k, v]: [Tensor; 3] = project(&[&layer.q, &layer.k, &layer.v], &h, &hp, dense)?
                .try_into()
                .map_err(|_| candle_core::Error::Msg("projection count".into()))?;
            let attended = self.attention(l, &q, &k, &v, segments)?;
            let attended_p = pad(&attended, layer.o.padded_in)?;
            x = (x + layer.o.forward(&attended, &attended_p, dense)?)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, c.rms_eps)?;
            let hp = pad(&h, layer.gate.padded_in)?;
            let [gate, up]: [Tensor; 2] = project(&[&layer.gate, &layer.up], &h, &hp, dense)?
                .try_into()
                .map_err(|_| candle_core::Error::Msg("projection count".into()))?;
            let gated = (candle_nn::ops::silu(&gate)? * up)?;
            let gated_p = pad(&gated, layer.down.padded_in)?;
            x = (x + layer.down.forward(&gated, &gated_p, dense)?)?;
        }
        let mut last_rows = Vec::with_capacity(segments.len());
        let mut row = 0;
        for s in segments.iter_mut() {
            row += s.rows;
            last_rows.push((row - 1) as u32);
            s.cache.len += s.rows;
        }
        let last = x.index_select(&Tensor::new(last_rows.as_slice(), &self.device)?, 0)?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, c.rms_eps)?;
        self.output
            .forward(&last, &pad(&last, self.output.padded_in)?, false)
    }

    /// Causal attention of every row of the pass, `q` `(rows, n_head * head_dim)` and `k`, `v`
    /// `(rows, n_kv_head * head_dim)` as projected: rotates the queries and keys, writes the
    /// keys and values into each segment's cache, then each (row, head) attends over its
    /// cache positions where they lie, in plain loops compiled for the CPU's widest SIMD, on
    /// candle's worker threads (which otherwise wait for the next matrix product). A row's
    /// result depends only on the cache, not on how many rows share the pass, so a prompt
    /// resumed from the prefix cache gets exactly the numbers of one fed whole. Returns
    /// `(rows, n_head * head_dim)`.
    fn attention(
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

    /// The logits row of `logits` (from [`Llama::forward`]) for segment `i`.
    pub fn row(logits: &Tensor, i: usize) -> Result<Tensor, ModelError> {
        logits
            .i(i)
            .map_err(|e| ModelError::Internal(format!("generation: {e}")))
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

/// `x` `(rows, n)` with zero columns up to `width`.
fn pad(x: &Tensor, width: usize) -> CResult<Tensor> {
    let n = x.dim(1)?;
    if n >= width {
        return Ok(x.clone());
    }
    x.pad_with_zeros(1, 0, width - n)
}

fn rotary_tables(config: &Config) -> (Vec<f32>, Vec<f32>) {
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
