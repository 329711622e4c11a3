//! Builds an [`Explanation`]: the pattern's verdict decided over its terms exactly as the
//! matcher decides it, with the facts behind it gathered on the way.
//!
//! The report follows the pattern as written (`Pattern::group`), but every claim in it is
//! about terms (`Pattern::terms`, where rule overriding has settled which condition holds
//! where) and their routes (`Pattern::routes`, which `$or` alternatives a term was built from):
//! a group that holds is reported on the term it holds through, and a field that term does not
//! hold (a later condition on its path replaced it) is marked overridden.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::compile::{Field, SlotKind, Target};
use crate::ir::{java_order, Group, Leaf, Matcher as Condition, Pattern};
use crate::matcher::{consistent, literal_tests, number_tests, string_tests};

use super::read::{Event, Scalar};
use super::{
    ArrayReport, ConditionReport, ElementReport, EventValue, Explanation, FieldReport, GroupReport,
    OrReport,
};

/// A leaf's place in the pattern text: it names the leaf in terms (which hold copies).
type Span = (usize, usize);

/// For each leaf of a term: the event value chosen for it, or `None` when it is satisfied
/// without one (an absent field, or absence judged against the values chosen before it).
type Witness = HashMap<Span, Option<usize>>;

/// What the event holds for one leaf of the pattern.
struct Facts {
    kind: SlotKind,
    /// The live event values on the leaf's path that the pattern sees (indexes into the
    /// event's values).
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
    /// One of `candidates` must be chosen (array-consistently with the values chosen before
    /// it), or, with `absent`, the field may be absent: none of those values is consistent
    /// with the values chosen before it.
    Choose {
        candidates: &'f [usize],
        absent: Option<&'f [usize]>,
    },
}

/// How one slot of a term takes part in its search, from the values on its path. The one
/// place that says what `exists: false` and "a value or absent" mean here; it classifies a
/// slot as the matcher's `term_matches` does: a field with no value is absent; a value outside
/// every array fails `exists: false` outright (and leaves "a value or absent" needing a
/// value); values only inside arrays leave the absence to be judged per choice.
fn need<'f>(f: &'f Facts, event: &Event) -> Need<'f> {
    if f.kind != SlotKind::Value {
        if f.values.is_empty() {
            return Need::Free;
        }
        let flat = f.values.iter().any(|&v| event.values[v].trail.is_empty());
        if f.kind == SlotKind::Absent && flat {
            return Need::Fails;
        }
        if f.kind == SlotKind::Absent || !flat {
            return Need::Choose {
                candidates: &f.candidates,
                absent: Some(&f.values),
            };
        }
    }
    if f.candidates.is_empty() {
        return Need::Fails;
    }
    Need::Choose {
        candidates: &f.candidates,
        absent: None,
    }
}

pub(crate) struct Explainer<'a> {
    bytes: &'a [u8],
    event: &'a Event,
    pattern: &'a Pattern,
    facts: HashMap<Span, Facts>,
    /// Each `$or` of the pattern (by the address of its alternatives) and its number in the
    /// routes.
    ors: HashMap<usize, u32>,
}

/// The address that names an `$or` of the pattern's group.
fn or_key(alternatives: &[Group]) -> usize {
    alternatives.as_ptr() as usize
}

/// Numbers the `$or`s of `group` as the IR numbers them in routes: in a pre-order walk.
fn number_ors(group: &Group, out: &mut HashMap<usize, u32>) {
    for alternatives in &group.ors {
        let n = out.len() as u32;
        out.insert(or_key(alternatives), n);
        for a in alternatives {
            number_ors(a, out);
        }
    }
}

impl<'a> Explainer<'a> {
    pub(crate) fn new(pattern: &'a Pattern, bytes: &'a [u8], event: &'a Event) -> Explainer<'a> {
        // Values under a key that is exactly `""` are invisible to a pattern naming no empty
        // path step, as the matcher's terms skip them.
        let sees_empty_keys = pattern.reads_empty_keys();
        let mut by_path: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, v) in event.values.iter().enumerate() {
            if v.alive && (sees_empty_keys || !v.via_empty_key) {
                by_path.entry(v.path.as_str()).or_default().push(i);
            }
        }
        let mut ors = HashMap::new();
        number_ors(pattern.group(), &mut ors);
        let mut e = Explainer {
            bytes,
            event,
            pattern,
            facts: HashMap::new(),
            ors,
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

    pub(crate) fn explain(&self) -> Explanation {
        let group = self.group(self.pattern.group(), None, None);
        Explanation {
            matched: group.held,
            pattern: self.pattern.text().to_string(),
            group,
        }
    }

    /// The leaves of a term (or part of one) in path order, the order the matcher's slots
    /// are in (Java string order, `compile` sorts a term's slots so).
    fn slots<'l>(&self, leaves: impl IntoIterator<Item = &'l Leaf>) -> Vec<&'l Leaf> {
        let mut out: Vec<&Leaf> = leaves.into_iter().collect();
        out.sort_by(|a, b| java_order(&a.path, &b.path));
        out
    }

    /// The values `leaves` (ANDed, as one term) hold with, if they hold: every slot's need
    /// met, in path order, the chosen values array-consistent and each absence judged against
    /// the values chosen before it (the matcher's search, in the same order).
    fn solve(&self, leaves: &[&Leaf]) -> Option<Witness> {
        let mut slots: Vec<(Span, Need)> = Vec::with_capacity(leaves.len());
        for leaf in self.slots(leaves.iter().copied()) {
            match need(self.facts.get(&leaf.span)?, self.event) {
                Need::Fails => return None,
                n => slots.push((leaf.span, n)),
            }
        }
        let mut chosen = Vec::with_capacity(slots.len());
        self.choose(&slots, &mut chosen)
            .then(|| chosen.into_iter().collect())
    }

    fn choose(&self, slots: &[(Span, Need)], chosen: &mut Vec<(Span, Option<usize>)>) -> bool {
        let Some(((span, need), rest)) = slots.split_first() else {
            return true;
        };
        let values = &self.event.values;
        let fits = |chosen: &[(Span, Option<usize>)], v: usize| {
            chosen
                .iter()
                .filter_map(|(_, c)| *c)
                .all(|o| consistent(&values[o].trail, &values[v].trail))
        };
        match need {
            Need::Fails => false,
            Need::Free => {
                chosen.push((*span, None));
                if self.choose(rest, chosen) {
                    return true;
                }
                chosen.pop();
                false
            }
            Need::Choose { candidates, absent } => {
                if let Some(present) = absent {
                    if !present.iter().any(|&v| fits(chosen, v)) {
                        chosen.push((*span, None));
                        if self.choose(rest, chosen) {
                            return true;
                        }
                        chosen.pop();
                    }
                }
                for &c in *candidates {
                    if fits(chosen, c) {
                        chosen.push((*span, Some(c)));
                        if self.choose(rest, chosen) {
                            return true;
                        }
                        chosen.pop();
                    }
                }
                false
            }
        }
    }

    /// The report of `group`. `through`: the `$or` alternative it is (`None` for the
    /// pattern's own group); its account is about the terms built through it. `inherited`:
    /// when the enclosing group holds through a term whose route takes this alternative, that
    /// term and its witness.
    fn group(
        &self,
        group: &Group,
        through: Option<(u32, u32)>,
        inherited: Option<(usize, &Witness)>,
    ) -> GroupReport {
        let terms = self.pattern.terms();
        let routes = self.pattern.routes();
        let mine: Vec<usize> = (0..terms.len())
            .filter(|&t| through.is_none_or(|step| routes[t].contains(&step)))
            .collect();
        let mut spans = Vec::new();
        tree_leaves(group, &mut spans);
        let spans: HashSet<Span> = spans.iter().map(|l| l.span).collect();
        // A group's part of a term: the term's leaves written inside it.
        let part = |t: usize| -> Vec<&Leaf> {
            terms[t]
                .leaves
                .iter()
                .filter(|l| spans.contains(&l.span))
                .collect()
        };
        let own = match inherited {
            Some(_) => None,
            None => mine
                .iter()
                .find_map(|&t| self.solve(&part(t)).map(|w| (t, w))),
        };
        let account = inherited.or(own.as_ref().map(|(t, w)| (*t, w)));
        let fields = group
            .leaves
            .iter()
            .map(|l| self.field(l, account, &mine))
            .collect();
        let ors = group
            .ors
            .iter()
            .map(|alternatives| {
                let id = self.ors.get(&or_key(alternatives)).copied();
                let used = account.and_then(|(t, _)| {
                    routes[t]
                        .iter()
                        .find(|&&(or, _)| Some(or) == id)
                        .map(|&(_, a)| a as usize)
                });
                let alternatives: Vec<GroupReport> = alternatives
                    .iter()
                    .enumerate()
                    .map(|(k, a)| {
                        let step = id.map(|id| (id, k as u32)).unwrap_or((u32::MAX, 0));
                        self.group(a, Some(step), account.filter(|_| used == Some(k)))
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
            (Some((t, w)), None) => self.arrays(&part(*t), Some(w)),
            (None, None) => mine
                .iter()
                .map(|&t| part(t))
                .find(|leaves| {
                    leaves.iter().all(|l| {
                        self.facts
                            .get(&l.span)
                            .is_some_and(|f| !matches!(need(f, self.event), Need::Fails))
                    })
                })
                .map(|leaves| self.arrays(&leaves, None))
                .unwrap_or_default(),
        };
        GroupReport {
            held: account.is_some(),
            term: account.map(|(t, _)| t),
            fields,
            ors,
            arrays,
        }
    }

    /// The report of one leaf of a group. `account`: the term the group holds through, with
    /// its witness; `mine`: the terms built through the group.
    fn field(
        &self,
        leaf: &Leaf,
        account: Option<(usize, &Witness)>,
        mine: &[usize],
    ) -> FieldReport {
        let terms = self.pattern.terms();
        let in_term = |t: usize| terms[t].leaves.iter().any(|l| l.span == leaf.span);
        // The leaves that replace this one, in the group's account: in the term it holds
        // through, or (when it holds through none) in every term built through it.
        let mut overridden_by: Vec<Span> = match account {
            Some((t, _)) if !in_term(t) => terms[t]
                .leaves
                .iter()
                .filter(|l| l.path == leaf.path)
                .map(|l| l.span)
                .collect(),
            None if !mine.iter().any(|&t| in_term(t)) => mine
                .iter()
                .flat_map(|&t| terms[t].leaves.iter())
                .filter(|l| l.path == leaf.path)
                .map(|l| l.span)
                .collect(),
            _ => Vec::new(),
        };
        overridden_by.sort_unstable();
        overridden_by.dedup();
        let overridden = !overridden_by.is_empty();
        // Only a leaf that counts in a held account has a witness entry.
        let chosen = account
            .filter(|_| !overridden)
            .and_then(|(_, w)| w.get(&leaf.span).copied());
        let Some(f) = self.facts.get(&leaf.span) else {
            // Every leaf of the pattern has its facts; an empty report rather than a panic.
            return FieldReport {
                path: leaf.path.clone(),
                pattern_span: leaf.span,
                held: false,
                values: Vec::new(),
                conditions: Vec::new(),
                used: None,
                overridden_by,
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
                let held = match (m, chosen) {
                    // In the match: the absence it judged; on its own: no value at all.
                    (Condition::Exists(false), Some(v)) => v.is_none(),
                    (Condition::Exists(false), None) => f.values.is_empty(),
                    _ => !held_for.is_empty(),
                };
                ConditionReport {
                    condition: m.to_string(),
                    held,
                    held_for,
                }
            })
            .collect();
        let used = chosen
            .flatten()
            .and_then(|v| f.values.iter().position(|&x| x == v));
        FieldReport {
            path: leaf.path.clone(),
            pattern_span: leaf.span,
            held: chosen.is_some() || self.solve(&[leaf]).is_some(),
            values,
            conditions,
            used,
            overridden_by,
        }
    }

    /// The arrays where array consistency decides `leaves` (one term, or a group's part of
    /// one): those holding values of two or more of its slots that take part in the search
    /// (accepted values, or values an absence is judged against). Per element, the fields
    /// needing a value it has no accepted value for, and the `exists: false` fields it has a
    /// value for.
    fn arrays(&self, leaves: &[&Leaf], witness: Option<&Witness>) -> Vec<ArrayReport> {
        let values = &self.event.values;
        struct Slot<'l> {
            leaf: &'l Leaf,
            candidates: &'l [usize],
            absent: Option<&'l [usize]>,
        }
        let slots: Vec<Slot> = self
            .slots(leaves.iter().copied())
            .into_iter()
            .filter_map(|leaf| match need(self.facts.get(&leaf.span)?, self.event) {
                Need::Choose { candidates, absent } => Some(Slot {
                    leaf,
                    candidates,
                    absent,
                }),
                _ => None,
            })
            .collect();
        let all = |s: &Slot| -> Vec<usize> {
            s.candidates
                .iter()
                .chain(s.absent.unwrap_or_default())
                .copied()
                .collect()
        };
        let ids: BTreeSet<u32> = slots
            .iter()
            .flat_map(|s| {
                all(s)
                    .into_iter()
                    .flat_map(|v| values[v].trail.iter().map(|t| t.0))
            })
            .collect();
        let inside = |v: usize, id: u32| values[v].trail.iter().find(|t| t.0 == id).map(|t| t.1);
        let mut out = Vec::new();
        for id in ids {
            let concerned: Vec<&Slot> = slots
                .iter()
                .filter(|s| all(s).iter().any(|&v| inside(v, id).is_some()))
                .collect();
            if concerned.len() < 2 {
                continue;
            }
            let array = &self.event.arrays[id as usize];
            let fields: Vec<String> = concerned.iter().map(|s| s.leaf.path.clone()).collect();
            let elements = array
                .elements
                .iter()
                .enumerate()
                .map(|(i, &span)| {
                    let here = |v: usize| inside(v, id).is_none_or(|at| at as usize == i);
                    let mut lacks = Vec::new();
                    let mut unwanted = Vec::new();
                    for s in &concerned {
                        let accepted = s.candidates.iter().any(|&v| here(v));
                        match s.absent {
                            None if !accepted => lacks.push(s.leaf.path.clone()),
                            Some(present)
                                if !accepted
                                    && present.iter().any(|&v| inside(v, id) == Some(i as u32)) =>
                            {
                                unwanted.push(s.leaf.path.clone())
                            }
                            _ => {}
                        }
                    }
                    ElementReport {
                        index: i,
                        span,
                        lacks,
                        unwanted,
                    }
                })
                .collect();
            // An absence judged before any value inside this array can be chosen (path
            // order): what is chosen before it lies outside the array.
            let judged_first = concerned
                .iter()
                .enumerate()
                .filter(|(k, f)| {
                    f.absent
                        .is_some_and(|present| present.iter().any(|&v| inside(v, id).is_some()))
                        && concerned[..*k]
                            .iter()
                            .all(|e| e.candidates.iter().all(|&v| inside(v, id).is_none()))
                })
                .map(|(_, f)| f.leaf.path.clone())
                .collect();
            let satisfied_by = witness.and_then(|w| {
                concerned.iter().find_map(|s| {
                    let v = w.get(&s.leaf.span).copied().flatten()?;
                    inside(v, id).map(|at| at as usize)
                })
            });
            out.push(ArrayReport {
                path: array.path.clone(),
                span: array.span,
                fields,
                satisfied_by,
                judged_first,
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
