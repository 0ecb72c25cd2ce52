//! A streaming calibrator: scores arrive one at a time (or in batches), and the
//! conformal quantile of everything seen so far can be asked at any time.
//!
//! Algorithm: an order-statistic treap (a binary search tree kept balanced by random
//! heap priorities, each node storing its subtree's size) in one `Vec` arena.
//! `add` and `quantile` are `O(log n)` expected; memory is 24 bytes per score.
//! Priorities come from a fixed-seed counter generator, so a calibrator fed the same
//! scores in the same order has the same shape.

use mlkern_core::{Error, Result};

use crate::quantile::{check_level, conformal_rank};

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    key: f64,
    prio: u32,
    left: u32,
    right: u32,
    size: u32,
}

/// The scores seen so far, ordered; see the module notes.
#[derive(Debug, Clone, Default)]
pub struct StreamingCalibrator {
    nodes: Vec<Node>,
    root: Option<u32>,
}

impl StreamingCalibrator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of scores added.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn size(&self, t: u32) -> u32 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size
        }
    }

    fn update(&mut self, t: u32) {
        let n = self.nodes[t as usize];
        self.nodes[t as usize].size = 1 + self.size(n.left) + self.size(n.right);
    }

    /// Splits `t` into keys `< key` and keys `≥ key` (iteratively: no recursion
    /// depth to overflow).
    fn split(&mut self, t: u32, key: f64) -> (u32, u32) {
        // Walk down, remembering the path; then rebuild sizes bottom-up.
        let mut path: Vec<(u32, bool)> = Vec::new();
        let mut cur = t;
        while cur != NIL {
            let go_right = self.nodes[cur as usize].key < key;
            path.push((cur, go_right));
            cur = if go_right { self.nodes[cur as usize].right } else { self.nodes[cur as usize].left };
        }
        let (mut l, mut r) = (NIL, NIL);
        for &(node, went_right) in path.iter().rev() {
            if went_right {
                self.nodes[node as usize].right = l;
                self.update(node);
                l = node;
            } else {
                self.nodes[node as usize].left = r;
                self.update(node);
                r = node;
            }
        }
        (l, r)
    }

    fn merge(&mut self, a: u32, b: u32) -> u32 {
        // Iterative merge along the right spine of `a` and left spine of `b`.
        let mut stack: Vec<(u32, bool)> = Vec::new();
        let (mut a, mut b) = (a, b);
        let mut result;
        loop {
            if a == NIL {
                result = b;
                break;
            }
            if b == NIL {
                result = a;
                break;
            }
            if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
                stack.push((a, true));
                a = self.nodes[a as usize].right;
            } else {
                stack.push((b, false));
                b = self.nodes[b as usize].left;
            }
        }
        while let Some((node, right)) = stack.pop() {
            if right {
                self.nodes[node as usize].right = result;
            } else {
                self.nodes[node as usize].left = result;
            }
            self.update(node);
            result = node;
        }
        result
    }

    /// Adds one score (`O(log n)` expected). NaN is refused.
    pub fn add(&mut self, score: f64) -> Result<()> {
        if score.is_nan() {
            return Err(Error::invalid("scores", "NaN cannot be calibrated on"));
        }
        if self.nodes.len() >= (NIL - 1) as usize {
            return Err(Error::out_of_memory("scores", "a streaming calibrator holds at most 2^32 - 2 scores"));
        }
        self.nodes.try_reserve(1).map_err(|_| Error::out_of_memory("scores", "no memory for one more score"))?;
        let id = self.nodes.len() as u32;
        let prio = (crate::rng::splitmix64(0x5EED, u64::from(id)) >> 32) as u32;
        self.nodes.push(Node { key: score, prio, left: NIL, right: NIL, size: 1 });
        let root = self.root.unwrap_or(NIL);
        let (l, r) = self.split(root, score);
        let lm = self.merge(l, id);
        self.root = Some(self.merge(lm, r));
        Ok(())
    }

    /// The `k`-th smallest score (1-based), `None` when `k` is 0 or above `len`.
    pub fn kth(&self, k: usize) -> Option<f64> {
        if k == 0 || k > self.len() {
            return None;
        }
        let mut k = k as u32;
        let mut t = self.root?;
        loop {
            let n = self.nodes[t as usize];
            let ls = self.size(n.left);
            if k <= ls {
                t = n.left;
            } else if k == ls + 1 {
                return Some(n.key);
            } else {
                k -= ls + 1;
                t = n.right;
            }
        }
    }

    /// The conformal quantile of the scores so far (see [`crate::quantile`]):
    /// `+inf` when the level is out of reach; an error when empty.
    pub fn quantile(&self, level: f64) -> Result<f64> {
        check_level(level)?;
        if self.is_empty() {
            return Err(Error::invalid("scores", "the streaming calibrator holds no score yet"));
        }
        Ok(conformal_rank(self.len(), level).and_then(|k| self.kth(k)).unwrap_or(f64::INFINITY))
    }

    /// The scores in increasing order (for pickling).
    pub fn sorted(&self) -> Vec<f64> {
        (1..=self.len()).filter_map(|k| self.kth(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sorting() {
        let mut c = StreamingCalibrator::new();
        let mut all = Vec::new();
        for i in 0..2000u64 {
            let v = (crate::rng::uniform(3, i) * 100.0).floor(); // many ties
            c.add(v).unwrap();
            all.push(v);
            if i % 97 == 0 {
                let mut s = all.clone();
                s.sort_by(f64::total_cmp);
                for k in [1, s.len() / 2 + 1, s.len()] {
                    assert_eq!(c.kth(k), Some(s[k - 1]));
                }
            }
        }
        let mut s = all.clone();
        s.sort_by(f64::total_cmp);
        assert_eq!(c.sorted(), s);
        assert!(c.add(f64::NAN).is_err());
        assert_eq!(c.kth(0), None);
    }
}
