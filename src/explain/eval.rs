//! Builds an [`Explanation`]: the pattern's verdict decided term by term exactly as the
//! matcher decides it, with the facts behind it gathered on the way.

use std::collections::{BTreeSet, HashMap};

use crate::compile::{Field, SlotKind, Target};
use crate::ir::{Group, Leaf, Matcher as Condition, Pattern, Term};
use crate::matcher::{consistent, literal_tests, number_tests, string_tests};

use super::read::{Event, Scalar};
use super::{
    ArrayReport, ConditionReport, ElementReport, EventValue, Explanation, FieldReport, GroupReport,
    OrReport,
};

/// A leaf's place in the pattern text: it names the leaf in terms (which hold copies).
type Span = (usize, usize);

/// For each leaf of a term: the event value chosen for it, or `None` when it is satisfied
/// without one (an absent field).
type Witness = HashMap<Span, Option<usize>>;

/// What the event holds for one leaf of the pattern.
struct Facts {
    kind: SlotKind,
    /// The live event values on the leaf's path (indexes into the event's values).
    values: Vec<usize>,
    /// Per value, in the same order: the conditions (indexes into the leaf's matchers) that
    /// accept it.
    accepted: Vec<Vec<usize>>,
    /// The values some condition accepts.
    candidates: Vec<usize>,
}

/// What a leaf asks of a term's choice of values.
enum Need<'f> {
    /// The leaf fails whatever is chosen.
    Fails,
    /// The leaf holds without a value.
    Free,
    /// One of these values must be chosen (array-consistently with the other leaves).
    OneOf(&'f [usize]),
}

/// How one leaf of a term is decided from the values on its path. The one place that says
/// what `exists: false` and "a value or absent" mean here; it follows the matcher's slot
/// evaluation (`matcher::eval`): absence is judged over the whole event.
fn need(f: &Facts) -> Need<'_> {
    let present = !f.values.is_empty();
    match f.kind {
        SlotKind::Absent if present => Need::Fails,
        SlotKind::Absent => Need::Free,
        SlotKind::ValueOrAbsent if !present => Need::Free,
        _ if f.candidates.is_empty() => Need::Fails,
        _ => Need::OneOf(&f.candidates),
    }
}

pub(crate) struct Explainer<'a> {
    bytes: &'a [u8],
    event: &'a Event,
    facts: HashMap<Span, Facts>,
}

impl<'a> Explainer<'a> {
    pub(crate) fn new(pattern: &Pattern, bytes: &'a [u8], event: &'a Event) -> Explainer<'a> {
        let mut by_path: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, v) in event.values.iter().enumerate() {
            if v.alive {
                by_path.entry(v.path.as_str()).or_default().push(i);
            }
        }
        let mut e = Explainer {
            bytes,
            event,
            facts: HashMap::new(),
        };
        let mut leaves = Vec::new();
        tree_leaves(pattern.group(), &mut leaves);
        leaves.extend(pattern.terms().iter().flat_map(|t| &t.leaves));
        for leaf in leaves {
            if !e.facts.contains_key(&leaf.span) {
                let values = by_path.get(leaf.path.as_str()).cloned().unwrap_or_default();
                let facts = e.facts_of(leaf, values);
                e.facts.insert(leaf.span, facts);
            }
        }
        e
    }

    /// Runs every value on the leaf's path through the leaf's conditions, compiled as the
    /// matcher compiles them and tested by the matcher's own value tests.
    fn facts_of(&self, leaf: &Leaf, values: Vec<usize>) -> Facts {
        let field = Field::of_conditions(&leaf.path, &leaf.matchers);
        let mut fold = Vec::new();
        let mut accepted = Vec::with_capacity(values.len());
        for &i in &values {
            let v = &self.event.values[i];
            let mut passed: Vec<usize> = Vec::new();
            let hit = |targets: &[Target]| passed.extend(targets.iter().map(|t| t.slot as usize));
            match &v.scalar {
                Scalar::String(bytes) => string_tests(&field, bytes, &mut fold, hit),
                Scalar::Number => number_tests(&field, &self.bytes[v.span.0..v.span.1], hit),
                Scalar::True => literal_tests(&field, b't', hit),
                Scalar::False => literal_tests(&field, b'f', hit),
                Scalar::Null => literal_tests(&field, b'n', hit),
            }
            passed.sort_unstable();
            passed.dedup();
            accepted.push(passed);
        }
        let candidates = values
            .iter()
            .zip(&accepted)
            .filter(|(_, a)| !a.is_empty())
            .map(|(&v, _)| v)
            .collect();
        Facts {
            kind: SlotKind::of(leaf),
            values,
            accepted,
            candidates,
        }
    }

    pub(crate) fn explain(&self, pattern: &Pattern) -> Explanation {
        let group = self.group(pattern.group(), pattern.terms(), None);
        Explanation {
            matched: group.held,
            pattern: pattern.text().to_string(),
            group,
        }
    }

    /// The values a term holds with, if it holds: every leaf's need met, the chosen values
    /// array-consistent (the matcher's search, in the same order).
    fn witness(&self, term: &Term) -> Option<Witness> {
        let mut witness = Witness::new();
        let mut choices: Vec<(Span, &[usize])> = Vec::new();
        for leaf in &term.leaves {
            match need(self.facts.get(&leaf.span)?) {
                Need::Fails => return None,
                Need::Free => {
                    witness.insert(leaf.span, None);
                }
                Need::OneOf(c) => choices.push((leaf.span, c)),
            }
        }
        let mut chosen = Vec::with_capacity(choices.len());
        if !self.choose(&choices, &mut chosen) {
            return None;
        }
        for ((span, _), v) in choices.iter().zip(chosen) {
            witness.insert(*span, Some(v));
        }
        Some(witness)
    }

    fn choose(&self, choices: &[(Span, &[usize])], chosen: &mut Vec<usize>) -> bool {
        let Some(((_, first), rest)) = choices.split_first() else {
            return true;
        };
        let values = &self.event.values;
        for &c in *first {
            if chosen
                .iter()
                .all(|&o| consistent(&values[o].trail, &values[c].trail))
            {
                chosen.push(c);
                if self.choose(rest, chosen) {
                    return true;
                }
                chosen.pop();
            }
        }
        false
    }

    /// The report of `group`, whose disjunctive normal form is `terms`. `inherited`: the
    /// witness of the enclosing group when this group is the `$or` alternative it used.
    fn group(&self, group: &Group, terms: &[Term], inherited: Option<&Witness>) -> GroupReport {
        let own = match inherited {
            Some(_) => None,
            None => terms.iter().find_map(|t| self.witness(t).map(|w| (t, w))),
        };
        let witness = inherited.or(own.as_ref().map(|(_, w)| w));
        let fields = group
            .leaves
            .iter()
            .map(|l| self.field(l, witness))
            .collect();
        let ors = group
            .ors
            .iter()
            .map(|alternatives| {
                let used = witness.and_then(|w| alternatives.iter().position(|a| covered(a, w)));
                let alternatives: Vec<GroupReport> = alternatives
                    .iter()
                    .enumerate()
                    .map(|(k, a)| {
                        let terms = expand(a);
                        self.group(a, &terms, witness.filter(|_| used == Some(k)))
                    })
                    .collect();
                OrReport {
                    held: alternatives.iter().any(|a| a.held),
                    used,
                    alternatives,
                }
            })
            .collect();
        let arrays = match (&own, inherited) {
            (_, Some(_)) => Vec::new(),
            (Some((term, w)), None) => self.arrays(term, Some(w)),
            (None, None) => terms
                .iter()
                .find(|t| {
                    t.leaves.iter().all(|l| {
                        self.facts
                            .get(&l.span)
                            .is_some_and(|f| !matches!(need(f), Need::Fails))
                    })
                })
                .map(|t| self.arrays(t, None))
                .unwrap_or_default(),
        };
        GroupReport {
            held: witness.is_some(),
            fields,
            ors,
            arrays,
        }
    }

    fn field(&self, leaf: &Leaf, witness: Option<&Witness>) -> FieldReport {
        let Some(f) = self.facts.get(&leaf.span) else {
            // Every leaf of the pattern has its facts; an empty report rather than a panic.
            return FieldReport {
                path: leaf.path.clone(),
                pattern_span: leaf.span,
                held: false,
                values: Vec::new(),
                conditions: Vec::new(),
                used: None,
            };
        };
        let values = f
            .values
            .iter()
            .map(|&i| {
                let span = self.event.values[i].span;
                EventValue {
                    text: String::from_utf8_lossy(&self.bytes[span.0..span.1]).into_owned(),
                    span,
                }
            })
            .collect();
        let conditions = leaf
            .matchers
            .iter()
            .enumerate()
            .map(|(c, m)| {
                let held_for: Vec<usize> = f
                    .accepted
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.contains(&c))
                    .map(|(p, _)| p)
                    .collect();
                let held = match m {
                    Condition::Exists(false) => f.values.is_empty(),
                    _ => !held_for.is_empty(),
                };
                ConditionReport {
                    condition: m.to_string(),
                    held,
                    held_for,
                }
            })
            .collect();
        let used = witness
            .and_then(|w| w.get(&leaf.span).copied().flatten())
            .and_then(|v| f.values.iter().position(|&x| x == v));
        FieldReport {
            path: leaf.path.clone(),
            pattern_span: leaf.span,
            held: !matches!(need(f), Need::Fails),
            values,
            conditions,
            used,
        }
    }

    /// The arrays where array consistency decides `term`: those holding accepted values of
    /// two or more of its leaves. Per element, the leaves it has no accepted value for.
    fn arrays(&self, term: &Term, witness: Option<&Witness>) -> Vec<ArrayReport> {
        let values = &self.event.values;
        let slots: Vec<(&Leaf, &[usize])> = term
            .leaves
            .iter()
            .filter_map(|l| match need(self.facts.get(&l.span)?) {
                Need::OneOf(c) => Some((l, c)),
                _ => None,
            })
            .collect();
        let ids: BTreeSet<u32> = slots
            .iter()
            .flat_map(|(_, c)| c.iter().flat_map(|&v| values[v].trail.iter().map(|t| t.0)))
            .collect();
        let inside = |v: usize, id: u32| values[v].trail.iter().find(|t| t.0 == id).map(|t| t.1);
        let mut out = Vec::new();
        for id in ids {
            let concerned: Vec<&(&Leaf, &[usize])> = slots
                .iter()
                .filter(|(_, c)| c.iter().any(|&v| inside(v, id).is_some()))
                .collect();
            if concerned.len() < 2 {
                continue;
            }
            let array = &self.event.arrays[id as usize];
            let mut fields: Vec<String> = Vec::new();
            for (l, _) in &concerned {
                if !fields.contains(&l.path) {
                    fields.push(l.path.clone());
                }
            }
            let elements = array
                .elements
                .iter()
                .enumerate()
                .map(|(i, &span)| {
                    let mut lacks: Vec<String> = Vec::new();
                    for (l, c) in &concerned {
                        let has = c
                            .iter()
                            .any(|&v| inside(v, id).is_none_or(|at| at as usize == i));
                        if !has && !lacks.contains(&l.path) {
                            lacks.push(l.path.clone());
                        }
                    }
                    ElementReport {
                        index: i,
                        span,
                        lacks,
                    }
                })
                .collect();
            let satisfied_by = witness.and_then(|w| {
                concerned.iter().find_map(|(l, _)| {
                    let v = w.get(&l.span).copied().flatten()?;
                    inside(v, id).map(|at| at as usize)
                })
            });
            out.push(ArrayReport {
                path: array.path.clone(),
                span: array.span,
                fields,
                satisfied_by,
                elements,
            });
        }
        out
    }
}

/// Every leaf of the pattern as written, alternatives included.
fn tree_leaves<'g>(group: &'g Group, out: &mut Vec<&'g Leaf>) {
    out.extend(&group.leaves);
    for alternative in group.ors.iter().flatten() {
        tree_leaves(alternative, out);
    }
}

/// Whether the witness of an enclosing group went through `group` as an `$or` alternative:
/// it holds every leaf of the group and of one alternative of each of its `$or`s.
fn covered(group: &Group, witness: &Witness) -> bool {
    group.leaves.iter().all(|l| witness.contains_key(&l.span))
        && group
            .ors
            .iter()
            .all(|alts| alts.iter().any(|a| covered(a, witness)))
}

/// The terms of `group` read on its own (an `$or` alternative's own account): its leaves,
/// then each `$or` forking them, a later condition on a path replacing an earlier one, as the
/// pattern's own terms are built.
fn expand(group: &Group) -> Vec<Term> {
    let mut terms = vec![Term {
        leaves: group.leaves.clone(),
    }];
    for or in &group.ors {
        let alternatives: Vec<Term> = or.iter().flat_map(expand).collect();
        let mut next = Vec::with_capacity(terms.len() * alternatives.len());
        for a in &alternatives {
            for t in &terms {
                let mut leaves = t.leaves.clone();
                for leaf in &a.leaves {
                    match leaves.iter_mut().find(|l| l.path == leaf.path) {
                        Some(old) => *old = leaf.clone(),
                        None => leaves.push(leaf.clone()),
                    }
                }
                next.push(Term { leaves });
            }
        }
        terms = next;
    }
    terms
}
