//! The classifier behind `matching.method = "classifier"`: a multinomial logistic regression
//! over two views of a sentence, trained once at start on the policy's example sentences.
//!
//! - its meaning: the embedder's unit vector (what MiniLM makes of the whole sentence);
//! - its wording (`matching.words`, on by default): counts of the words and word pairs it
//!   uses, among those that occur in at least two example sentences, scaled to unit length.
//!   A decisive word the sentence vector blurs in a long message ("killed", "solicitor",
//!   "small claims") still counts.
//!
//! In a prototype on the same sentences (meaning alone, dev split), words took recognition
//! from 187 to 196 of 206 must-escalate moments and false alarms from 10 to 5; the shipped
//! detector's figures are in benches/RESULTS.md.
//!
//! The loss is the summed cross-entropy plus `alpha / 2` times the squared weights (not the
//! biases), minimised with L-BFGS (`argmin`). The wording is sparse, so the products are
//! written for sparse rows; `linfa-logistic` only takes dense records, which for thousands of
//! word columns would cost minutes at every start.

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use linfa_preprocessing::CountVectorizer;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use std::sync::{Arc, Mutex};

/// L2 regularisation of the weights (`alpha` above). Chosen on the dev split.
const ALPHA: f64 = 1.0 / 16.0;
/// L-BFGS iterations at most; a few thousand sentences converge in fewer.
const MAX_ITERATIONS: u64 = 1_000;
/// Gradient norm at which training stops.
const GRADIENT_TOLERANCE: f64 = 1e-4;
/// Fewest example sentences a word (or word pair) must occur in to be a feature: a word of a
/// single sentence would only let the classifier memorise that sentence.
const MIN_SENTENCES_PER_WORD: usize = 2;

/// One sentence's wording as (word column, value) pairs; its vector is the same row of
/// [`Problem::vectors`].
#[derive(Debug, Clone, Default)]
struct Row {
    words: Vec<(usize, f64)>,
}

/// The words and word pairs the classifier counts. The vectorizer compiles its word pattern
/// lazily in a `RefCell`, so it is shared behind a lock (held for one message's counting).
#[derive(Debug, Clone)]
struct Wording {
    vocabulary: Arc<Mutex<CountVectorizer>>,
    columns: usize,
}

impl Wording {
    fn fit(sentences: &[String]) -> Result<Option<Self>, String> {
        // linfa-preprocessing takes document frequencies as shares of the sentences and
        // truncates share × count: half a sentence more keeps the rounding on the right side.
        let n = sentences.len().max(1) as f32;
        let min_share = ((MIN_SENTENCES_PER_WORD as f32 + 0.5) / n).min(1.0);
        let documents = Array1::from_iter(sentences.iter().cloned());
        let vocabulary = CountVectorizer::params()
            .n_gram_range(1, 2)
            .document_frequency(min_share, 1.0)
            .fit(&documents)
            .map_err(|e| format!("counting the examples' words: {e}"))?;
        let columns = vocabulary.nentries();
        Ok((columns > 0).then(|| Self {
            vocabulary: Arc::new(Mutex::new(vocabulary)),
            columns,
        }))
    }

    /// Each text's counts, scaled to unit length (a text without known words has none).
    fn rows(&self, texts: &[String]) -> Vec<Row> {
        let documents = Array1::from_iter(texts.iter().cloned());
        let counts = match self.vocabulary.lock() {
            Ok(vocabulary) => vocabulary.transform(&documents),
            Err(poisoned) => poisoned.into_inner().transform(&documents),
        };
        let Ok(counts) = counts else {
            return vec![Row::default(); texts.len()];
        };
        counts
            .outer_iterator()
            .map(|row| {
                let norm = row.iter().map(|(_, &c)| (c * c) as f64).sum::<f64>().sqrt();
                Row {
                    words: row.iter().map(|(j, &c)| (j, c as f64 / norm)).collect(),
                }
            })
            .collect()
    }
}

/// Multinomial logistic regression; the caller numbers the classes.
#[derive(Debug, Clone)]
pub(crate) struct Classifier {
    /// One row of weights per class, over the vector's dimensions.
    weights: Vec<Vec<f32>>,
    /// Per word column, one weight per class.
    word_weights: Vec<Vec<f32>>,
    bias: Vec<f32>,
    wording: Option<Wording>,
}

impl Classifier {
    /// Trains on `classes[c]`: the (vector, text) of the example sentences of class `c`.
    /// With `words`, the texts' wording counts beside the vectors.
    pub(crate) fn train(classes: &[Vec<(&[f32], &str)>], words: bool) -> Result<Self, String> {
        let dimensions = classes
            .iter()
            .flatten()
            .map(|(v, _)| v.len())
            .next()
            .ok_or("no example sentences")?;
        let n: usize = classes.iter().map(Vec::len).sum();
        let mut vectors = Array2::<f64>::zeros((n, dimensions));
        let mut labels = Vec::with_capacity(n);
        let mut texts = Vec::with_capacity(n);
        for (class, examples) in classes.iter().enumerate() {
            for (v, text) in examples {
                if v.len() != dimensions {
                    return Err(format!(
                        "vectors of {} and {dimensions} dimensions",
                        v.len()
                    ));
                }
                let mut row = vectors.row_mut(labels.len());
                for (cell, x) in row.iter_mut().zip(*v) {
                    *cell = f64::from(*x);
                }
                labels.push(class);
                texts.push((*text).to_owned());
            }
        }
        let wording = if words { Wording::fit(&texts)? } else { None };
        let rows = match &wording {
            Some(w) => w.rows(&texts),
            None => vec![Row::default(); n],
        };
        let columns = wording.as_ref().map_or(0, |w| w.columns);
        let problem = Problem {
            vectors,
            rows,
            labels,
            classes: classes.len(),
            columns,
            last: Mutex::new(None),
        };
        let shape = Shape::of(&problem);
        let start = Array1::<f64>::zeros(shape.parameters());
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(GRADIENT_TOLERANCE)
            .map_err(|e| e.to_string())?;
        let result = Executor::new(problem, solver)
            .configure(|state| state.param(start).max_iters(MAX_ITERATIONS))
            .run()
            .map_err(|e| e.to_string())?;
        let state = result.state();
        tracing::debug!(
            iterations = state.get_iter(),
            reason = ?state.get_termination_reason(),
            cost = state.get_best_cost(),
            words = columns,
            "moment-of-truth classifier trained"
        );
        let best = state
            .get_best_param()
            .or(state.get_param())
            .ok_or("training ended without weights")?;
        let (w, b) = shape.split(best);
        Ok(Self {
            weights: (0..shape.classes)
                .map(|c| (0..dimensions).map(|d| w[[d, c]] as f32).collect())
                .collect(),
            word_weights: (dimensions..shape.features)
                .map(|j| w.row(j).iter().map(|&x| x as f32).collect())
                .collect(),
            bias: b.iter().map(|&x| x as f32).collect(),
            wording,
        })
    }

    /// The probability of each class for a message: its vector and its text (as embedded).
    pub(crate) fn probabilities(&self, vector: &[f32], text: &str) -> Vec<f32> {
        let mut logits: Vec<f32> = self
            .weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| warmline_domain::embed::dot(vector, w) + b)
            .collect();
        if let Some(wording) = &self.wording {
            for row in wording.rows(&[text.to_owned()]) {
                for (j, x) in row.words {
                    for (logit, w) in logits.iter_mut().zip(&self.word_weights[j]) {
                        *logit += *w * x as f32;
                    }
                }
            }
        }
        let top = logits.iter().copied().fold(f32::MIN, f32::max);
        let exp: Vec<f32> = logits.iter().map(|l| (l - top).exp()).collect();
        let sum: f32 = exp.iter().sum();
        exp.iter().map(|e| e / sum).collect()
    }
}

/// The training problem. Parameters: the weights, (dimensions + word columns) × classes in
/// row-major order, then one bias per class.
struct Problem {
    vectors: Array2<f64>,
    rows: Vec<Row>,
    labels: Vec<usize>,
    classes: usize,
    columns: usize,
    /// The last point evaluated.
    last: Mutex<Option<Evaluated>>,
}

/// A point of the parameter space with its cost and gradient.
struct Evaluated {
    param: Array1<f64>,
    cost: f64,
    gradient: Array1<f64>,
}

/// Where the weights and biases lie in the parameters.
#[derive(Debug, Clone, Copy)]
struct Shape {
    features: usize,
    classes: usize,
}

impl Shape {
    fn of(problem: &Problem) -> Self {
        Self {
            features: problem.vectors.ncols() + problem.columns,
            classes: problem.classes,
        }
    }

    fn parameters(self) -> usize {
        (self.features + 1) * self.classes
    }

    /// The weights (features × classes) and biases in `p`.
    fn split(self, p: &Array1<f64>) -> (ArrayView2<'_, f64>, ArrayView1<'_, f64>) {
        let (w, b) = p.view().split_at(Axis(0), self.features * self.classes);
        let w = w
            .into_shape_with_order((self.features, self.classes))
            .expect("the parameters hold features x classes weights");
        (w, b)
    }
}

impl Problem {
    /// Each sentence's class probabilities (n × classes, row-major), and the summed
    /// cross-entropy. The loops over word columns index plain slices: they run thousands of
    /// times per step, and the tests' unoptimised builds train the sample policy too.
    fn forward(&self, p: &Array1<f64>) -> (Vec<f64>, f64) {
        let (w, b) = Shape::of(self).split(p);
        let (dimensions, k) = (self.vectors.ncols(), self.classes);
        let dense = self.vectors.dot(&w.split_at(Axis(0), dimensions).0);
        let mut logits: Vec<f64> = dense.into_iter().collect();
        let weights = contiguous(p);
        let bias: Vec<f64> = b.to_vec();
        let mut loss = 0.0;
        for ((logit, row), &label) in logits.chunks_mut(k).zip(&self.rows).zip(&self.labels) {
            for (l, b) in logit.iter_mut().zip(&bias) {
                *l += b;
            }
            for &(j, x) in &row.words {
                let start = (dimensions + j) * k;
                for (l, w) in logit.iter_mut().zip(&weights[start..start + k]) {
                    *l += x * w;
                }
            }
            // -ln softmax(label) = logsumexp - logit[label], without overflow: early line
            // search steps can try huge weights.
            let top = logit.iter().copied().fold(f64::MIN, f64::max);
            let own = logit[label];
            let mut sum = 0.0;
            for l in logit.iter_mut() {
                *l = (*l - top).exp();
                sum += *l;
            }
            loss += top + sum.ln() - own;
            for l in logit.iter_mut() {
                *l /= sum;
            }
        }
        (logits, loss)
    }

    /// The cost (summed cross-entropy plus the L2 penalty) and its gradient at `p`. argmin asks
    /// for both at every point its line search tries, and L-BFGS asks for the gradient at the
    /// accepted point again: the last point's answer is kept, so each point costs one pass.
    fn evaluate(&self, p: &Array1<f64>) -> Result<(f64, Array1<f64>), argmin::core::Error> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = last.as_ref()
            && known.param == *p
        {
            return Ok((known.cost, known.gradient.clone()));
        }
        let shape = Shape::of(self);
        let (dimensions, k) = (self.vectors.ncols(), self.classes);
        // d loss / d logits = probabilities - one-hot labels.
        let (mut delta, loss) = self.forward(p);
        for (d, &label) in delta.chunks_mut(k).zip(&self.labels) {
            d[label] -= 1.0;
        }
        let rows = delta.as_slice();
        // Weights (row-major, features x classes), then biases.
        let mut grad = vec![0.0; shape.parameters()];
        let dense = self
            .vectors
            .t()
            .dot(&ArrayView2::from_shape((self.labels.len(), k), rows)?);
        for (g, d) in grad.iter_mut().zip(dense.iter()) {
            *g = *d;
        }
        for (d, row) in rows.chunks(k).zip(&self.rows) {
            for &(j, x) in &row.words {
                let start = (dimensions + j) * k;
                for (g, d) in grad[start..start + k].iter_mut().zip(d) {
                    *g += x * d;
                }
            }
        }
        let weights = contiguous(p);
        let n_weights = shape.features * k;
        let mut squares = 0.0;
        for (g, w) in grad[..n_weights].iter_mut().zip(weights.iter()) {
            *g += ALPHA * w;
            squares += w * w;
        }
        for d in rows.chunks(k) {
            for (g, d) in grad[n_weights..].iter_mut().zip(d) {
                *g += d;
            }
        }
        let cost = loss + 0.5 * ALPHA * squares;
        let grad = Array1::from(grad);
        *last = Some(Evaluated {
            param: p.clone(),
            cost,
            gradient: grad.clone(),
        });
        Ok((cost, grad))
    }
}

/// The parameters as one slice (argmin's vectors are contiguous; a copy if one were not).
fn contiguous(p: &Array1<f64>) -> std::borrow::Cow<'_, [f64]> {
    match p.as_slice() {
        Some(slice) => std::borrow::Cow::Borrowed(slice),
        None => std::borrow::Cow::Owned(p.to_vec()),
    }
}

impl CostFunction for Problem {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> Result<f64, argmin::core::Error> {
        Ok(self.evaluate(p)?.0)
    }
}

impl Gradient for Problem {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;

    fn gradient(&self, p: &Self::Param) -> Result<Array1<f64>, argmin::core::Error> {
        Ok(self.evaluate(p)?.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gradient_is_the_derivative_of_the_cost() {
        let rows = vec![
            Row {
                words: vec![(0, 0.6), (1, 0.8)],
            },
            Row { words: vec![] },
            Row {
                words: vec![(1, 1.0)],
            },
        ];
        let problem = Problem {
            vectors: ndarray::array![[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]],
            rows,
            labels: vec![0, 1, 2],
            classes: 3,
            columns: 2,
            last: Mutex::new(None),
        };
        let p = Array1::from_iter(
            (0..Shape::of(&problem).parameters()).map(|i| ((i * 7 % 11) as f64 - 5.0) / 10.0),
        );
        let grad = problem.gradient(&p).unwrap();
        let h = 1e-6;
        for i in 0..p.len() {
            let (mut up, mut down) = (p.clone(), p.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (problem.cost(&up).unwrap() - problem.cost(&down).unwrap()) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 1e-5,
                "parameter {i}: {numeric} vs {}",
                grad[i]
            );
        }
    }

    #[test]
    fn words_decide_where_the_vectors_cannot() {
        // Every sentence has the same vector; only the words tell the classes apart.
        let v = [1.0_f32, 0.0];
        let routine = [
            "where is my parcel",
            "where is my refund",
            "how do i return a lamp",
            "how do i return shoes",
        ];
        let lawyer = [
            "my lawyer will call",
            "my lawyer has the letter",
            "see you in court then",
            "court is next",
        ];
        let classes: Vec<Vec<(&[f32], &str)>> = vec![
            routine.iter().map(|t| (&v[..], *t)).collect(),
            lawyer.iter().map(|t| (&v[..], *t)).collect(),
        ];
        let with = Classifier::train(&classes, true).unwrap();
        let p = with.probabilities(&v, "my lawyer says no");
        assert!(p[1] > 0.7, "{p:?}");
        let p = with.probabilities(&v, "how do i return a kettle");
        assert!(p[0] > 0.7, "{p:?}");
        // Without words the two classes look alike: even odds.
        let without = Classifier::train(&classes, false).unwrap();
        let p = without.probabilities(&v, "my lawyer says no");
        assert!((p[0] - 0.5).abs() < 0.01, "{p:?}");
    }
}
