mod embeddings;
mod eval_set;
mod signals;
