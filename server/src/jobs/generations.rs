//! CPython's generational cyclic collector as counts: which finished jobs'
//! reference cycles a collection frees, and when it runs. The memory those
//! cycles hold is `jobs::retention`'s; this module only counts objects.
//!
//! The rule, as CPython 3.11's `Modules/gcmodule.c` has it (the example
//! app's interpreter; 3.12 and 3.13 keep it):
//! - Every new container object (one the collector tracks: lists, dicts,
//!   instances) adds one to generation 0's count, every one freed by
//!   reference counting takes one off (not below 0). When the count passes
//!   the threshold (700), the allocating thread runs a collection, of the
//!   oldest generation whose count passes its threshold.
//! - A collection of generation `g` looks at generations 0 to `g` together:
//!   unreachable objects (cycles nothing outside points to) are freed,
//!   survivors move to generation `g + 1`. It zeroes the counts of
//!   generations 0 to `g` and adds one to generation `g + 1`'s, so
//!   generation 1 is collected once 11 collections of generation 0 ran
//!   since its last (its count passes 10): every 12th collection; and
//!   generation 2 likewise after 11 collections of generation 1.
//! - Generation 2 (a full collection) only when, besides, the objects moved
//!   into it since the last full collection (`long_lived_pending`) are at
//!   least a quarter of those it kept then (`long_lived_total`); otherwise
//!   generation 1 is collected instead.
//! - A cycle spanning generations is only freed by a collection of the
//!   oldest one it reaches: the younger parts' references from an older
//!   generation count as outside references. So a finished job's document
//!   is freed, whole, by the first collection that covers the generation of
//!   its oldest objects.
//!
//! The model keeps, per owner, how many objects sit in each generation: a
//! job's document (alive until the job ends, then cyclic garbage) or plain
//! cyclic garbage (what a request or a stage leaves behind, unreachable at
//! once). Objects freed by reference counting are left out: the counts it
//! is given are net (allocated minus freed), as the collector's own count.

use std::collections::BTreeSet;

/// The oldest generation (CPython has 0, 1 and 2).
const OLDEST: usize = 2;

/// Who holds a group of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// A job's document: reachable while the job runs, a cycle after.
    Job(i64),
    /// Cyclic garbage from the moment it is counted.
    Garbage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cohort {
    owner: Owner,
    generation: usize,
    objects: u64,
}

/// One collection the counts made run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    /// The generation collected (2: a full collection).
    pub generation: usize,
    /// Finished jobs whose documents it freed.
    pub jobs: Vec<i64>,
    /// Objects it found unreachable and freed.
    pub unreachable: u64,
}

/// The collector's state: thresholds, counts and who sits where.
#[derive(Debug, Clone)]
pub struct Generations {
    thresholds: [u64; 3],
    count: [u64; 3],
    /// Objects in generation 2 after the last full collection.
    long_lived_total: u64,
    /// Objects moved into generation 2 since then.
    long_lived_pending: u64,
    /// Generation-2 objects no owner here accounts for (the interpreter's
    /// modules, classes and caches).
    resident: u64,
    cohorts: Vec<Cohort>,
    finished: BTreeSet<i64>,
    collections: [u64; 3],
}

impl Generations {
    /// CPython's state after start: `long_lived` objects in generation 2
    /// (what `len(gc.get_objects(2))` says after a full collection), the
    /// thresholds `gc.get_threshold()` gives (700, 10, 10 by default).
    pub fn new(thresholds: [u64; 3], long_lived: u64) -> Generations {
        Generations {
            thresholds,
            count: [0; 3],
            long_lived_total: long_lived,
            long_lived_pending: 0,
            resident: long_lived,
            cohorts: Vec::new(),
            finished: BTreeSet::new(),
            collections: [0; 3],
        }
    }

    /// Start from `counts` (`gc.get_count()`) instead of zero.
    pub fn with_counts(mut self, counts: [u64; 3]) -> Generations {
        self.count = counts;
        self
    }

    /// `objects` new container objects held by `owner`: counted one by one
    /// as CPython does, so every collection they trigger runs where it
    /// would, and the objects counted after it are younger.
    pub fn allocate(&mut self, owner: Owner, mut objects: u64) -> Vec<Collection> {
        let mut ran = Vec::new();
        while objects > 0 {
            // The collection runs on the allocation that takes the count
            // past the threshold.
            let room = (self.thresholds[0] + 1)
                .saturating_sub(self.count[0])
                .max(1);
            let n = room.min(objects);
            self.add(owner, 0, n);
            self.count[0] += n;
            objects -= n;
            if self.count[0] > self.thresholds[0]
                && let Some(c) = self.collect_generations()
            {
                ran.push(c);
            }
        }
        ran
    }

    /// Job `job_id` ended: its document is a cycle, freed by the first
    /// collection that covers all of it (a job with no objects counted: by
    /// the next collection).
    pub fn finish(&mut self, job_id: i64) {
        self.finished.insert(job_id);
    }

    /// `gc.collect()`: a full collection now, whatever the counts.
    pub fn collect(&mut self) -> Collection {
        self.collect_generation(OLDEST)
    }

    /// Collections run so far, per generation.
    pub fn collections(&self) -> [u64; 3] {
        self.collections
    }

    /// `gc.get_count()`.
    pub fn count(&self) -> [u64; 3] {
        self.count
    }

    /// Objects of job `job_id`'s document per generation (0 once freed).
    pub fn job_objects(&self, job_id: i64) -> [u64; 3] {
        let mut per = [0; 3];
        for c in self
            .cohorts
            .iter()
            .filter(|c| c.owner == Owner::Job(job_id))
        {
            per[c.generation] += c.objects;
        }
        per
    }

    fn add(&mut self, owner: Owner, generation: usize, objects: u64) {
        match self
            .cohorts
            .iter_mut()
            .find(|c| c.owner == owner && c.generation == generation)
        {
            Some(c) => c.objects += objects,
            None => self.cohorts.push(Cohort {
                owner,
                generation,
                objects,
            }),
        }
    }

    /// `gc_collect_generations`: the oldest generation over its threshold,
    /// generation 2 only under the long-lived rule.
    fn collect_generations(&mut self) -> Option<Collection> {
        (0..=OLDEST).rev().find_map(|g| {
            let over = self.count[g] > self.thresholds[g];
            let deferred = g == OLDEST && self.long_lived_pending < self.long_lived_total / 4;
            (over && !deferred).then(|| self.collect_generation(g))
        })
    }

    fn collect_generation(&mut self, generation: usize) -> Collection {
        if generation < OLDEST {
            self.count[generation + 1] += 1;
        }
        for c in &mut self.count[..=generation] {
            *c = 0;
        }
        self.collections[generation] += 1;
        // A finished job's document is unreachable when all of it is in
        // the generations collected.
        let freed_jobs: Vec<i64> = self
            .finished
            .iter()
            .copied()
            .filter(|id| {
                self.cohorts
                    .iter()
                    .all(|c| c.owner != Owner::Job(*id) || c.generation <= generation)
            })
            .collect();
        let unreachable_owner = |o: Owner| {
            o == Owner::Garbage || matches!(o, Owner::Job(id) if freed_jobs.contains(&id))
        };
        let mut unreachable = 0;
        let mut survivors = 0;
        let target = (generation + 1).min(OLDEST);
        let cohorts = std::mem::take(&mut self.cohorts);
        for c in cohorts {
            if c.generation > generation {
                self.add(c.owner, c.generation, c.objects);
            } else if unreachable_owner(c.owner) {
                unreachable += c.objects;
            } else {
                survivors += c.objects;
                self.add(c.owner, target, c.objects);
            }
        }
        for id in &freed_jobs {
            self.finished.remove(id);
        }
        if generation + 1 == OLDEST {
            self.long_lived_pending += survivors;
        } else if generation == OLDEST {
            let owned: u64 = self
                .cohorts
                .iter()
                .filter(|c| c.generation == OLDEST)
                .map(|c| c.objects)
                .sum();
            self.long_lived_total = self.resident + owned;
            self.long_lived_pending = 0;
        }
        Collection {
            generation,
            jobs: freed_jobs,
            unreachable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPYTHON: [u64; 3] = [700, 10, 10];

    #[test]
    fn generation_0_is_collected_on_the_701st_new_object() {
        let mut g = Generations::new(CPYTHON, 1000);
        assert!(g.allocate(Owner::Garbage, 700).is_empty());
        let ran = g.allocate(Owner::Garbage, 1);
        assert_eq!(ran.len(), 1);
        assert_eq!((ran[0].generation, ran[0].unreachable), (0, 701));
        assert_eq!(g.count(), [0, 1, 0]);
    }

    #[test]
    fn generation_1_runs_after_11_young_collections() {
        // As CPython 3.11 prints it with gc.callbacks: 11 zeros, then a 1.
        let mut g = Generations::new(CPYTHON, 1000);
        let ran = g.allocate(Owner::Garbage, 701 * 12);
        let gens: Vec<usize> = ran.iter().map(|c| c.generation).collect();
        assert_eq!(gens, [vec![0; 11], vec![1]].concat());
        assert_eq!(g.count(), [0, 0, 1]);
    }

    #[test]
    fn a_running_job_survives_and_its_document_is_freed_with_its_oldest_generation() {
        let mut g = Generations::new(CPYTHON, 1_000_000);
        // Half the document before a young collection, half after.
        g.allocate(Owner::Garbage, 401);
        g.allocate(Owner::Job(1), 600);
        assert_eq!(g.job_objects(1), [300, 300, 0]);
        g.finish(1);
        // The next young collection cannot free it: part is in generation 1.
        let ran = g.allocate(Owner::Garbage, 701);
        assert_eq!(ran[0].generation, 0);
        assert!(ran[0].jobs.is_empty());
        // Generation 1's next collection does.
        let ran = g.allocate(Owner::Garbage, 701 * 11);
        let freed: Vec<&Collection> = ran.iter().filter(|c| !c.jobs.is_empty()).collect();
        assert_eq!(freed.len(), 1);
        assert_eq!((freed[0].generation, freed[0].jobs.clone()), (1, vec![1]));
        assert_eq!(g.job_objects(1), [0, 0, 0]);
    }

    #[test]
    fn a_full_collection_waits_for_a_quarter_of_the_long_lived_objects() {
        // 1000 long-lived objects: a full collection needs 250 pending.
        let mut g = Generations::new(CPYTHON, 1000);
        g.allocate(Owner::Job(1), 100);
        // 11 generation-1 collections: the job's 100 objects move into
        // generation 2 at the first, not enough for a full collection.
        while g.count()[2] <= 10 {
            let ran = g.allocate(Owner::Garbage, 701);
            assert!(ran.iter().all(|c| c.generation < 2));
        }
        assert_eq!(g.job_objects(1), [0, 0, 100]);
        g.finish(1);
        g.allocate(Owner::Job(2), 200);
        // The next generation-1 collection moves job 2 up: 300 pending.
        let ran = g.allocate(Owner::Garbage, 701 * 13);
        let full: Vec<&Collection> = ran.iter().filter(|c| c.generation == 2).collect();
        assert_eq!(full.len(), 1, "300 pending of 1000: a full collection");
        assert_eq!(full[0].jobs, vec![1]);
        assert_eq!(g.collections()[2], 1);
        assert_eq!(g.job_objects(2), [0, 0, 200], "a running job survives");
    }

    /// Two reports in sequence (11 requests before each job, its workbook
    /// of `job` objects, its document of `document`, `polls` status polls
    /// during its build): whether the first job's document is freed by
    /// the time the second's workbook is made.
    fn first_job_freed(counts: [u64; 3], job: u64, document: u64, polls: u64) -> bool {
        let mut g = Generations::new(CPYTHON, 50_428).with_counts(counts);
        g.allocate(Owner::Garbage, 11 * 12);
        g.allocate(Owner::Garbage, job);
        g.allocate(Owner::Job(1), document);
        g.allocate(Owner::Garbage, polls * 12);
        g.finish(1);
        let mut ran = g.allocate(Owner::Garbage, 11 * 12);
        ran.extend(g.allocate(Owner::Garbage, job));
        ran.iter().any(|c| c.jobs.contains(&1))
    }

    #[test]
    fn the_phase_of_generation_1_decides_whether_the_next_job_starts_on_top() {
        // The isolated counts (a cold workbook, the document's 622): from
        // zero the document lives through a young collection and waits for
        // generation 1; two collections before generation 1's, the next
        // job's start frees it.
        assert!(!first_job_freed([0, 0, 0], 1171, 400 + 10 * 22, 0));
        assert!(first_job_freed([0, 8, 0], 1171, 400 + 10 * 22, 0));
    }

    #[test]
    fn with_the_live_counts_a_short_build_is_freed_and_a_long_one_stacks() {
        // The profiles' counts (docs/measurements/gc-model.md): the warm
        // workbook and the document's live rise, 84 + 22 per photo. A
        // 10-photo build with a few polls stays under the threshold and
        // the next young collection frees it; one long enough for 40 polls
        // (a slow CPU share) meets a collection and waits for generation 1.
        assert!(first_job_freed([0, 0, 0], 775, 84 + 10 * 22, 5));
        assert!(!first_job_freed([0, 0, 0], 775, 84 + 10 * 22, 40));
    }

    #[test]
    fn an_explicit_collection_frees_every_finished_job() {
        let mut g = Generations::new(CPYTHON, 10);
        g.allocate(Owner::Job(1), 5000);
        g.allocate(Owner::Job(2), 10);
        g.finish(1);
        g.finish(2);
        g.finish(3);
        let c = g.collect();
        assert_eq!(
            (c.generation, c.jobs, c.unreachable),
            (2, vec![1, 2, 3], 5010)
        );
    }
}
