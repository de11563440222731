//! Warmline's own forward pass for Llama-shaped GGUF models (`llama`: SmolLM2; `qwen2`:
//! Qwen2.5), on candle's tensors and quantized kernels.
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
//! - attention runs in Warmline's own SIMD loops over the cache (`llama/attention.rs`), not in
//!   candle's tensor ops: about 25 fewer small operations per sequence and layer, and the
//!   worker threads busy between matrix products.

mod attention;

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
        let (cos, sin) = attention::rotary_tables(&config);
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

    /// The logits row of `logits` (from [`Llama::forward`]) for segment `i`.
    pub fn row(logits: &Tensor, i: usize) -> Result<Tensor, ModelError> {
        logits
            .i(i)
            .map_err(|e| ModelError::Internal(format!("generation: {e}")))
    }
}

/// `x` `(rows, n)` with zero columns up to `width`.
fn pad(x: &Tensor, width: usize) -> CResult<Tensor> {
    let n = x.dim(1)?;
    if n >= width {
        return Ok(x.clone());
    }
    x.pad_with_zeros(1, 0, width - n)
}
