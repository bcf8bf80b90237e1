use super::slot::RETAINED_CAPACITY;
use super::*;

/// Nodes for the tests; the vector is never resized, so their addresses are stable.
fn nodes(n: usize) -> Vec<TimerNode> {
    (0..n).map(|_| TimerNode::new()).collect()
}

fn index_of(all: &[TimerNode], node: &TimerNode) -> usize {
    all.iter().position(|n| ptr::eq(n, node)).unwrap()
}

/// Advances in steps, collecting (index, tick reached) of every fired node.
fn run(wheel: &mut Wheel, all: &[TimerNode], until: u64, step: u64) -> Vec<(usize, u64)> {
    run_with(wheel, all, until, step, |_, _| {})
}

/// Like `run`, calling `between(wheel, now)` after every step.
fn run_with(
    wheel: &mut Wheel,
    all: &[TimerNode],
    until: u64,
    step: u64,
    mut between: impl FnMut(&mut Wheel, u64),
) -> Vec<(usize, u64)> {
    let mut fired = Vec::new();
    let mut now = 0;
    while now <= until {
        // SAFETY: the nodes outlive the wheel's use of them; single-threaded test.
        while unsafe { wheel.expire(now, 7, |n| fired.push((index_of(all, n), now))) } {}
        between(wheel, now);
        now += step;
    }
    fired
}

fn random_ticks(n: usize, max: u64, mut seed: u64) -> Vec<u64> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            1 + seed % max
        })
        .collect()
}

#[test]
fn precascade_empties_the_upcoming_slot_ahead_of_time() {
    // Ticks 4096..4196 sit in level 2's slot 1, the one after the slot time is in.
    let all = nodes(100);
    let mut wheel = Wheel::new();
    for (i, node) in all.iter().enumerate() {
        // SAFETY: nodes outlive the test's use of the wheel.
        assert!(unsafe { wheel.insert(node, 4096 + i as u64) });
    }
    assert_eq!(wheel.arrays[2][wheel.current[2]].occupied_slots, 1);
    // SAFETY: as above.
    unsafe {
        assert!(wheel.precascade(60), "a partial move reports more to do");
        assert!(!wheel.precascade(60));
    }
    assert_eq!(
        wheel.arrays[2][wheel.current[2]].occupied_slots, 0,
        "moved out"
    );
    assert!(
        wheel.arrays[1][1 - wheel.current[1]].occupied_slots > 0,
        "into the next turn"
    );
    assert_eq!(wheel.next_expiration(), Some(4096));
    let fired = run(&mut wheel, &all, 4300, 1);
    assert_eq!(fired.len(), 100);
    for (index, at) in fired {
        assert_eq!(at, 4096 + index as u64);
    }
}

#[test]
fn early_moves_keep_every_timer_exact() {
    for (max, step, budget) in [
        (300_000u64, 1u64, 3usize),
        (20_000_000, 97, 50),
        (5_000_000, 1, 1000),
    ] {
        let ticks = random_ticks(3000, max, max ^ 0x5eed);
        let all = nodes(ticks.len());
        let mut wheel = Wheel::new();
        for (node, &tick) in all.iter().zip(&ticks) {
            // SAFETY: nodes outlive the test's use of the wheel.
            assert!(unsafe { wheel.insert(node, tick) });
        }
        let mut removed = Vec::new();
        let fired = run_with(&mut wheel, &all, max + step, step, |wheel, now| {
            // SAFETY: as above.
            unsafe {
                while wheel.precascade(budget) {}
                // Now and then cancel a pending timer, wherever it sits.
                if now % (step * 1000) == 0 {
                    let victim = (now / step) as usize % all.len();
                    if ticks[victim] > now && !removed.contains(&victim) {
                        wheel.remove(&all[victim]);
                        removed.push(victim);
                    }
                }
            }
        });
        assert_eq!(
            fired.len() + removed.len(),
            ticks.len(),
            "every timer fired or was removed"
        );
        for (index, at) in fired {
            assert!(!removed.contains(&index), "a removed timer fired");
            assert!(at >= ticks[index], "never early");
            assert!(
                at < ticks[index] + step,
                "fired at the first step past its tick"
            );
        }
        assert_eq!(wheel.len(), 0);
    }
}

#[test]
fn rounding_never_makes_a_timer_early() {
    assert_eq!(tick_at_or_after(0), 0);
    assert_eq!(tick_at_or_after(1), 1);
    assert_eq!(tick_at_or_after(1000), 1);
    assert_eq!(tick_at_or_after(1001), 2);
    assert_eq!(tick_reached(1999), 1);
    for ns in [1u64, 999, 1000, 1001, 123_456_789] {
        assert!(tick_at_or_after(ns) * 1000 >= ns);
    }
}

#[test]
fn levels_follow_the_highest_differing_group() {
    assert_eq!(level_for(0, 1), 0);
    assert_eq!(level_for(0, 63), 0);
    assert_eq!(level_for(0, 64), 1);
    assert_eq!(level_for(0, 4095), 1);
    assert_eq!(level_for(0, 4096), 2);
    assert_eq!(level_for(0, (1 << 24) - 1), 2);
    assert_eq!(level_for(0, 1 << 24), 3);
    assert_eq!(level_for(0, 1 << 36), 4);
    assert_eq!(level_for(100, 127), 0, "same level-1 slot");
    assert_eq!(level_for(100, 128), 1);
    assert_eq!(level_for(0, SPAN_MASK), LEVELS - 1);
}

#[test]
fn fires_every_timer_exactly_at_its_tick_across_levels() {
    let ticks: Vec<u64> = vec![
        1, 2, 63, 64, 65, 100, 4095, 4096, 4097, 70_000, 300_000, 1_000_000, 5,
    ];
    let all = nodes(ticks.len());
    let mut wheel = Wheel::new();
    for (node, &tick) in all.iter().zip(&ticks) {
        // SAFETY: nodes outlive the test's use of the wheel.
        assert!(unsafe { wheel.insert(node, tick) });
    }
    assert_eq!(wheel.len(), ticks.len());
    let fired = run(&mut wheel, &all, 1_000_000, 1);
    assert_eq!(fired.len(), ticks.len());
    for (index, at) in fired {
        assert_eq!(
            at, ticks[index],
            "timer {index} fired at its tick, not before or after"
        );
    }
    assert_eq!(wheel.len(), 0);
    assert!(wheel.next_expiration().is_none());
}

#[test]
fn coarse_steps_fire_late_timers_at_once_and_never_early() {
    let mut ticks = Vec::new();
    let mut x = 12345u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ticks.push(1 + x % 5_000_000);
    }
    let all = nodes(ticks.len());
    let mut wheel = Wheel::new();
    for (node, &tick) in all.iter().zip(&ticks) {
        // SAFETY: nodes outlive the test's use of the wheel.
        assert!(unsafe { wheel.insert(node, tick) });
    }
    let fired = run(&mut wheel, &all, 5_000_000 + 997, 997);
    assert_eq!(fired.len(), ticks.len(), "every timer fired once");
    for (index, at) in fired {
        assert!(at >= ticks[index], "never early");
        assert!(
            at < ticks[index] + 997,
            "fired at the first step past its tick"
        );
    }
}

#[test]
fn removed_timers_never_fire_and_others_are_unaffected() {
    let all = nodes(6);
    let mut wheel = Wheel::new();
    for (i, node) in all.iter().enumerate() {
        // SAFETY: nodes outlive the test's use of the wheel.
        unsafe { wheel.insert(node, 10 + i as u64 * 1000) };
    }
    // SAFETY: as above.
    unsafe {
        wheel.remove(&all[1]);
        wheel.remove(&all[4]);
        wheel.remove(&all[4]); // removing twice is harmless
    }
    assert_eq!(wheel.len(), 4);
    let fired: Vec<usize> = run(&mut wheel, &all, 10_000, 7)
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(fired, vec![0, 2, 3, 5]);
}

#[test]
fn removal_from_anywhere_in_a_slot_keeps_the_others_findable() {
    // 100 timers in one level-0 slot, removed from the middle and both ends: the
    // others must stay where they say they are, for a later removal to find them.
    let all = nodes(100);
    let mut wheel = Wheel::new();
    for node in &all {
        // SAFETY: nodes outlive the test's use of the wheel.
        assert!(unsafe { wheel.insert(node, 40) });
    }
    let removed = [0, 99, 50, 98, 1, 97, 49, 51, 2];
    for &i in &removed {
        // SAFETY: as above.
        unsafe { wheel.remove(&all[i]) };
        assert_positions(&wheel, &all);
    }
    assert_eq!(wheel.len(), 100 - removed.len());
    assert_eq!(fired_once(&mut wheel, &all, 40), survivors(100, &removed));
}

/// Runs the wheel to `until` one tick at a time: the indices of the nodes that fired,
/// sorted.
fn fired_once(wheel: &mut Wheel, all: &[TimerNode], until: u64) -> Vec<usize> {
    let mut fired: Vec<usize> = run(wheel, all, until, 1).iter().map(|f| f.0).collect();
    fired.sort_unstable();
    fired
}

/// The indices below `n` that are not in `removed`.
fn survivors(n: usize, removed: &[usize]) -> Vec<usize> {
    (0..n).filter(|i| !removed.contains(i)).collect()
}

/// Every linked node is at the position it records.
fn assert_positions(wheel: &Wheel, all: &[TimerNode]) {
    // SAFETY: every node is still valid; single-threaded test.
    unsafe {
        for (j, node) in all.iter().enumerate() {
            let links = node.links();
            if links.level == UNLINKED {
                continue;
            }
            let (level, array, slot) = links.place();
            let at = wheel.arrays[level][array].slots[slot].nodes[links.index as usize];
            assert!(ptr::eq(at, node), "node {j} is where it says it is");
        }
    }
}

#[test]
fn a_slot_full_of_holes_is_closed_up_before_it_grows() {
    // 64 timers in one level-0 slot fill its array; removing most of them leaves
    // holes, and the next insertions close them up instead of growing the array.
    let all = nodes(96);
    let mut wheel = Wheel::new();
    for node in &all[..64] {
        // SAFETY: nodes outlive the test's use of the wheel.
        assert!(unsafe { wheel.insert(node, 40) });
    }
    let slot = slot_index(0, 40);
    let capacity = wheel.arrays[0][0].slots[slot].nodes.capacity();
    let removed: Vec<usize> = (0..64).filter(|i| i % 4 != 1).collect();
    for &i in &removed {
        // SAFETY: as above.
        unsafe { wheel.remove(&all[i]) };
    }
    assert_positions(&wheel, &all);
    for node in &all[64..] {
        // SAFETY: as above.
        assert!(unsafe { wheel.insert(node, 40) });
        assert_positions(&wheel, &all);
    }
    let target = &wheel.arrays[0][0].slots[slot];
    assert_eq!(target.live, 96 - removed.len());
    assert_eq!(target.nodes.capacity(), capacity, "closed up, not grown");
    assert_eq!(fired_once(&mut wheel, &all, 40), survivors(96, &removed));
    assert_eq!(wheel.len(), 0);
}

#[test]
fn a_slot_frees_a_large_array_once_it_empties() {
    let all = nodes(1000);
    let mut wheel = Wheel::new();
    for node in &all {
        // SAFETY: nodes outlive the test's use of the wheel.
        assert!(unsafe { wheel.insert(node, 5000) });
    }
    assert_eq!(run(&mut wheel, &all, 5000, 1000).len(), 1000);
    let kept: usize = wheel
        .arrays
        .iter()
        .flatten()
        .flat_map(|level| level.slots.iter())
        .map(|slot| slot.nodes.capacity())
        .max()
        .unwrap();
    assert!(kept <= RETAINED_CAPACITY, "a slot kept {kept} pointers");
}

#[test]
fn a_reached_slot_is_worked_off_in_slices_and_removal_still_works_midway() {
    // 300 timers in one level-2 slot (ticks 8192..8492): reaching it at 8192 fires
    // the first and moves the rest down, 100 per call.
    let all = nodes(300);
    let mut wheel = Wheel::new();
    for (i, node) in all.iter().enumerate() {
        // SAFETY: nodes outlive the test's use of the wheel.
        assert!(unsafe { wheel.insert(node, 8192 + i as u64) });
    }
    let mut fired = Vec::new();
    // SAFETY: as above.
    unsafe {
        assert!(wheel.expire(8192, 100, |n| fired.push(index_of(&all, n))));
        assert_eq!(wheel.next_expiration(), Some(8192), "more work is due now");
        // A node not yet moved can still be cancelled.
        wheel.remove(&all[250]);
        while wheel.expire(8192, 100, |n| fired.push(index_of(&all, n))) {}
    }
    assert_eq!(fired, vec![0], "only the timer at tick 8192 is due");
    assert_eq!(wheel.len(), 298);
    let later = run(&mut wheel, &all, 8192 + 300, 1);
    let mut seen: Vec<usize> = later.iter().map(|f| f.0).collect();
    seen.sort_unstable();
    let expected: Vec<usize> = (1..300).filter(|&i| i != 250).collect();
    assert_eq!(
        seen, expected,
        "every other timer fired once, the removed one never"
    );
    for (index, at) in later {
        assert_eq!(at, 8192 + index as u64);
    }
    assert_eq!(wheel.len(), 0);
}

#[test]
fn next_expiration_is_never_after_the_earliest_deadline() {
    let all = nodes(3);
    let mut wheel = Wheel::new();
    // SAFETY: nodes outlive the test's use of the wheel.
    unsafe {
        wheel.insert(&all[0], 5000);
        wheel.insert(&all[1], 70);
        wheel.insert(&all[2], 1_000_000);
    }
    let next = wheel.next_expiration().unwrap();
    assert!(next <= 70 && next > 0);
    // SAFETY: as above.
    unsafe { wheel.remove(&all[1]) };
    assert!(wheel.next_expiration().unwrap() <= 5000);
}

#[test]
fn a_clock_reading_behind_the_wheel_fires_what_is_due_at_the_wheels_time() {
    // A slice at tick 5 leaves the slot half worked off; a caller whose clock
    // reading (4) was taken before that must still fire the rest, not move them
    // back into the same slot.
    let all = nodes(10);
    let mut wheel = Wheel::new();
    for node in &all {
        // SAFETY: nodes outlive the test's use of the wheel.
        assert!(unsafe { wheel.insert(node, 5) });
    }
    let mut fired = 0;
    // SAFETY: as above.
    unsafe {
        assert!(wheel.expire(5, 3, |_| fired += 1));
        assert!(!wheel.expire(4, 100, |_| fired += 1));
    }
    assert_eq!(fired, 10);
    assert_eq!(wheel.len(), 0);
    assert!(wheel.next_expiration().is_none());
}

#[test]
fn past_deadlines_are_refused() {
    let all = nodes(2);
    let mut wheel = Wheel::new();
    // SAFETY: nodes outlive the test's use of the wheel.
    unsafe {
        wheel.expire(100, usize::MAX, |_| {});
        assert!(!wheel.insert(&all[0], 100), "a reached tick fires at once");
        assert!(wheel.insert(&all[1], 101));
    }
}

#[test]
fn deadlines_beyond_the_span_wait_and_still_fire_on_time() {
    let all = nodes(1);
    let mut wheel = Wheel::new();
    let far = SPAN_MASK * 3 + 12345;
    // SAFETY: nodes outlive the test's use of the wheel.
    unsafe {
        assert!(wheel.insert(&all[0], far));
        let mut fired = false;
        let mut now = 0;
        while !fired {
            now = wheel.next_expiration().unwrap();
            assert!(now <= far, "the wheel never waits past the deadline");
            while wheel.expire(now, usize::MAX, |_| fired = true) {}
        }
        assert_eq!(now, far);
    }
}
