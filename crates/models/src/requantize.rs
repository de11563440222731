//! Re-quantizing a GGUF file once, at fetch time: weight types that candle runs on slow
//! generic code (Q4_0/Q4_1/Q5_0/Q5_1) become a type with fast CPU kernels (Q8_0); everything
//! else is copied as it is.

use crate::ModelError;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use std::path::Path;

/// The types worth converting.
const SLOW: [GgmlDType; 4] = [
    GgmlDType::Q4_0,
    GgmlDType::Q4_1,
    GgmlDType::Q5_0,
    GgmlDType::Q5_1,
];

/// Parses a target type name from the manifest.
pub fn target_dtype(name: &str) -> Result<GgmlDType, ModelError> {
    match name.to_ascii_lowercase().as_str() {
        "q8_0" => Ok(GgmlDType::Q8_0),
        "q4_k" => Ok(GgmlDType::Q4K),
        "q6_k" => Ok(GgmlDType::Q6K),
        "f16" => Ok(GgmlDType::F16),
        other => Err(ModelError::Manifest(format!(
            "cannot re-quantize to {other:?} (known: q8_0, q4_k, q6_k, f16)"
        ))),
    }
}

/// What a re-quantization did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequantizeReport {
    pub converted: usize,
    pub kept: usize,
}

/// Reads `src`, converts its slow tensors to `to`, and writes the result to `dst`.
pub fn requantize(src: &Path, dst: &Path, to: GgmlDType) -> Result<RequantizeReport, ModelError> {
    let bad = |e: candle_core::Error| ModelError::BadModel {
        path: src.to_owned(),
        reason: e.to_string(),
    };
    let mut reader =
        std::io::BufReader::new(std::fs::File::open(src).map_err(|e| ModelError::io(src, e))?);
    let content = gguf_file::Content::read(&mut reader).map_err(bad)?;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    // Keep the file's own tensor order (by offset), as llama.cpp writes it.
    names.sort_by_key(|n| content.tensor_infos[*n].offset);
    let mut report = RequantizeReport::default();
    let mut tensors = Vec::with_capacity(names.len());
    for name in &names {
        let tensor = content
            .tensor(&mut reader, name, &Device::Cpu)
            .map_err(bad)?;
        let row = tensor.shape().dims().last().copied().unwrap_or(0);
        let convert = SLOW.contains(&tensor.dtype()) && row % to.block_size() == 0;
        let tensor = if convert {
            report.converted += 1;
            let values: Tensor = tensor.dequantize(&Device::Cpu).map_err(bad)?;
            QTensor::quantize(&values, to).map_err(bad)?
        } else {
            report.kept += 1;
            tensor
        };
        tensors.push((name.as_str(), tensor));
    }
    // The writer aligns tensors to 32 bytes: drop any other alignment the source declared.
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "general.alignment")
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let out = std::fs::File::create(dst).map_err(|e| ModelError::io(dst, e))?;
    let mut writer = std::io::BufWriter::new(out);
    gguf_file::write(&mut writer, &metadata, &tensor_refs).map_err(|e| ModelError::BadModel {
        path: dst.to_owned(),
        reason: e.to_string(),
    })?;
    let out = writer
        .into_inner()
        .map_err(|e| ModelError::io(dst, e.into_error()))?;
    out.sync_all().map_err(|e| ModelError::io(dst, e))?;
    Ok(report)
}
