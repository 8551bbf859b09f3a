//! The conversion itself: every tensor of the source decoded (when it is quantized) and
//! encoded to its planned type, rows split across threads, written to a new GGUF file with
//! `general.file_type` set.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{plan, Mix, QuantizeFileError, TensorPlan};
use crate::gguf::{keys, GgufFile, GgufWriter, TensorInfo, Value};
use crate::quants::{dequantize_row, quantize_row};
use crate::GgmlType;

/// `general.quantization_version` written to every output (ggml's current block layouts).
const QUANTIZATION_VERSION: u32 = 2;

/// Reported after each tensor is converted.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// The tensor just converted.
    pub tensor: &'a TensorPlan,
    /// Its index, in file order.
    pub index: usize,
    /// Number of tensors.
    pub n_tensors: usize,
    /// Source bytes converted so far.
    pub bytes_done: u64,
    /// Source bytes in total.
    pub bytes_total: u64,
}

/// What a conversion did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The mix.
    pub mix: Mix,
    /// Every tensor's plan, in file order.
    pub tensors: Vec<TensorPlan>,
    /// Parameters (elements) of all tensors.
    pub parameters: u64,
    /// Tensor bytes in the source.
    pub bytes_in: u64,
    /// Tensor bytes in the output.
    pub bytes_out: u64,
    /// Size of the source file.
    pub file_size_in: u64,
    /// Size of the output file.
    pub file_size_out: u64,
    /// Wall time of the conversion.
    pub elapsed: Duration,
}

impl Summary {
    /// Tensors whose quantized source data was dequantized first.
    pub fn requantized(&self) -> usize {
        self.tensors.iter().filter(|t| t.is_requantized()).count()
    }

    /// Tensors that took a fallback type.
    pub fn fallbacks(&self) -> usize {
        self.tensors.iter().filter(|t| t.fallback).count()
    }
}

/// Converts `src` to `mix`, writing the GGUF file `out` with `threads` threads (at least
/// one), calling `progress` after each tensor. On failure the partial output is removed.
pub fn quantize_file(
    src: &GgufFile,
    out: &Path,
    mix: Mix,
    threads: usize,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Summary, QuantizeFileError> {
    let started = Instant::now();
    let tensors = plan(src, mix)?;
    let result = write(src, out, mix, &tensors, threads.max(1), progress);
    if result.is_err() {
        // Best effort: the error being returned matters more than a leftover file.
        let _ = std::fs::remove_file(out);
    }
    let bytes_out = result?;
    let io = |source| QuantizeFileError::Io {
        path: out.to_path_buf(),
        source,
    };
    Ok(Summary {
        mix,
        parameters: src.tensors().iter().map(TensorInfo::n_elements).sum(),
        bytes_in: src.tensors().iter().map(TensorInfo::n_bytes).sum(),
        bytes_out,
        file_size_in: src.file_size(),
        file_size_out: std::fs::metadata(out).map_err(io)?.len(),
        elapsed: started.elapsed(),
        tensors,
    })
}

/// Writes the output file; returns its tensor bytes.
fn write(
    src: &GgufFile,
    out: &Path,
    mix: Mix,
    tensors: &[TensorPlan],
    threads: usize,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<u64, QuantizeFileError> {
    let mut writer = GgufWriter::with_metadata(src.metadata().clone());
    let meta = writer.metadata_mut();
    meta.insert(keys::general::FILE_TYPE, Value::U32(mix.file_type()));
    meta.insert(
        keys::general::QUANTIZATION_VERSION,
        Value::U32(QUANTIZATION_VERSION),
    );
    for (info, plan) in src.tensors().iter().zip(tensors) {
        writer.add_tensor(info.name(), plan.to, info.shape())?;
    }
    let io = |source| QuantizeFileError::Io {
        path: out.to_path_buf(),
        source,
    };
    let file = File::create(out).map_err(io)?;
    let mut data = writer.begin(BufWriter::new(file))?;
    let bytes_total = src.tensors().iter().map(TensorInfo::n_bytes).sum();
    let mut bytes_done = 0;
    let mut bytes_out = 0;
    for (index, (info, plan)) in src.tensors().iter().zip(tensors).enumerate() {
        let input = src.tensor_data(info)?;
        if plan.is_copy() {
            data.write_tensor(input)?;
            bytes_out += input.len() as u64;
        } else {
            let converted = convert_tensor(info, plan, input, threads)?;
            data.write_tensor(&converted)?;
            bytes_out += converted.len() as u64;
        }
        bytes_done += info.n_bytes();
        progress(Progress {
            tensor: plan,
            index,
            n_tensors: tensors.len(),
            bytes_done,
            bytes_total,
        });
    }
    let mut buffered = data.finish()?;
    std::io::Write::flush(&mut buffered).map_err(io)?;
    buffered.get_ref().sync_all().map_err(io)?;
    Ok(bytes_out)
}

/// Converts one tensor's data from `plan.from` to `plan.to`, rows split across threads.
fn convert_tensor(
    info: &TensorInfo,
    plan: &TensorPlan,
    input: &[u8],
    threads: usize,
) -> Result<Vec<u8>, QuantizeFileError> {
    let too_large = || QuantizeFileError::TooLarge {
        tensor: plan.name.clone(),
    };
    let row_len = usize::try_from(info.shape().first().copied().unwrap_or(1))
        .map_err(|_| too_large())?
        .max(1);
    let n_rows = usize::try_from(info.n_elements()).map_err(|_| too_large())? / row_len;
    let in_row = row_bytes(plan.from, row_len).ok_or_else(too_large)?;
    let out_row = row_bytes(plan.to, row_len).ok_or_else(too_large)?;
    let mut output = vec![0u8; n_rows.checked_mul(out_row).ok_or_else(too_large)?];
    let rows_per_chunk = n_rows.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = output
            .chunks_mut(rows_per_chunk * out_row)
            .zip(input.chunks(rows_per_chunk * in_row))
            .map(|(dst, src)| {
                scope.spawn(move || convert_rows(plan, row_len, in_row, out_row, src, dst))
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
        })
    })?;
    Ok(output)
}

/// Bytes of one row of `row_len` elements of `ty`.
fn row_bytes(ty: GgmlType, row_len: usize) -> Option<usize> {
    usize::try_from(ty.bytes_for(row_len as u64)?).ok()
}

/// Converts whole rows from `src` into `dst`, one row at a time.
fn convert_rows(
    plan: &TensorPlan,
    row_len: usize,
    in_row: usize,
    out_row: usize,
    src: &[u8],
    dst: &mut [u8],
) -> Result<(), QuantizeFileError> {
    let mut row = vec![0f32; row_len];
    for (src_row, dst_row) in src.chunks_exact(in_row).zip(dst.chunks_exact_mut(out_row)) {
        dequantize_row(plan.from, src_row, &mut row).map_err(|source| {
            QuantizeFileError::Dequantize {
                tensor: plan.name.clone(),
                ty: plan.from,
                source,
            }
        })?;
        quantize_row(plan.to, &row, dst_row).map_err(|source| QuantizeFileError::Quantize {
            tensor: plan.name.clone(),
            ty: plan.to,
            source,
        })?;
    }
    Ok(())
}
