//! Unit tests of the sampler: each step's effect on the distribution (fixed seeds, many
//! draws), edge cases and determinism.

use super::*;

/// Sampling only (no truncation, no penalties) at temperature 1.
fn plain(seed: u64) -> SamplerConfig {
    SamplerConfig {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        typical_p: 1.0,
        seed: Some(seed),
        ..SamplerConfig::default()
    }
}

fn logits_of(probs: &[f64]) -> Vec<f32> {
    probs.iter().map(|p| p.ln() as f32).collect()
}

/// Empirical frequencies of each token over `n` draws.
fn frequencies(config: SamplerConfig, logits: &[f32], n: usize) -> Vec<f64> {
    let mut s = Sampler::new(config, logits.len()).unwrap();
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..n {
        counts[s.sample(logits).unwrap() as usize] += 1;
    }
    counts.iter().map(|&c| c as f64 / n as f64).collect()
}

fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "token {i}: frequency {g:.4}, expected {w:.4} (all: {got:?})"
        );
    }
}

const P: [f64; 4] = [0.5, 0.3, 0.15, 0.05];
const N: usize = 40_000;

#[test]
fn temperature_one_draws_the_softmax() {
    assert_close(&frequencies(plain(1), &logits_of(&P), N), &P, 0.01);
}

#[test]
fn temperature_sharpens_and_flattens() {
    let l = logits_of(&P);
    let sq: Vec<f64> = P.iter().map(|p| p * p).collect();
    let z: f64 = sq.iter().sum();
    let want: Vec<f64> = sq.iter().map(|p| p / z).collect();
    assert_close(
        &frequencies(
            SamplerConfig {
                temperature: 0.5,
                ..plain(2)
            },
            &l,
            N,
        ),
        &want,
        0.01,
    );
    let hot = frequencies(
        SamplerConfig {
            temperature: 100.0,
            ..plain(3)
        },
        &l,
        N,
    );
    assert_close(&hot, &[0.25; 4], 0.015);
}

#[test]
fn top_k_keeps_the_k_best_renormalized() {
    let got = frequencies(
        SamplerConfig {
            top_k: 2,
            ..plain(4)
        },
        &logits_of(&P),
        N,
    );
    assert_close(&got, &[0.625, 0.375, 0.0, 0.0], 0.01);
}

#[test]
fn top_k_larger_than_the_vocabulary_keeps_everything() {
    let got = frequencies(
        SamplerConfig {
            top_k: 1000,
            ..plain(5)
        },
        &logits_of(&P),
        N,
    );
    assert_close(&got, &P, 0.01);
}

#[test]
fn top_p_keeps_the_smallest_prefix_reaching_p() {
    // Cumulative 0.5, 0.8, 0.95: p = 0.7 keeps two tokens, p = 0.8 also (reaching counts).
    let l = logits_of(&P);
    assert_close(
        &frequencies(
            SamplerConfig {
                top_p: 0.7,
                ..plain(6)
            },
            &l,
            N,
        ),
        &[0.625, 0.375, 0.0, 0.0],
        0.01,
    );
    let three = frequencies(
        SamplerConfig {
            top_p: 0.9,
            ..plain(7)
        },
        &l,
        N,
    );
    assert_close(&three, &[0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0], 0.01);
    assert_close(
        &frequencies(
            SamplerConfig {
                top_p: 1.0,
                ..plain(8)
            },
            &l,
            N,
        ),
        &P,
        0.01,
    );
}

#[test]
fn min_p_drops_tokens_below_a_fraction_of_the_best() {
    // 0.4 * 0.5 = 0.2: keeps 0.5 and 0.3.
    let got = frequencies(
        SamplerConfig {
            min_p: 0.4,
            ..plain(9)
        },
        &logits_of(&P),
        N,
    );
    assert_close(&got, &[0.625, 0.375, 0.0, 0.0], 0.01);
}

#[test]
fn typical_p_keeps_tokens_whose_surprise_is_near_the_entropy() {
    // H = 1.1421 nats; |surprise - H|: 0.449, 0.062, 0.755, 1.854. In that order the mass
    // is 0.3, then 0.8 > 0.6: tokens 1 and 0 stay.
    let got = frequencies(
        SamplerConfig {
            typical_p: 0.6,
            ..plain(10)
        },
        &logits_of(&P),
        N,
    );
    assert_close(&got, &[0.625, 0.375, 0.0, 0.0], 0.01);
}

#[test]
fn the_default_chain_combines_the_steps() {
    // top-k 3, then top-p 0.9 (keeps 3 of them), min-p 0.05 (keeps all), temperature 0.8.
    let cfg = SamplerConfig {
        top_k: 3,
        top_p: 0.9,
        seed: Some(11),
        ..SamplerConfig::default()
    };
    let w: Vec<f64> = P[..3].iter().map(|p| p.powf(1.0 / 0.8)).collect();
    let z: f64 = w.iter().sum();
    let want = [w[0] / z, w[1] / z, w[2] / z, 0.0];
    assert_close(&frequencies(cfg, &logits_of(&P), N), &want, 0.01);
}

#[test]
fn equal_logits_are_uniform_and_greedy_takes_the_first() {
    let l = vec![1.5f32; 8];
    assert_close(&frequencies(plain(12), &l, N), &[0.125; 8], 0.01);
    let mut g = Sampler::new(SamplerConfig::greedy(), 8).unwrap();
    assert_eq!(g.sample(&l).unwrap(), 0);
}

#[test]
fn minus_infinity_is_never_drawn() {
    let l = vec![f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY, 0.0];
    let got = frequencies(
        SamplerConfig {
            top_p: 0.99,
            typical_p: 0.99,
            ..plain(13)
        },
        &l,
        4000,
    );
    assert_eq!((got[0], got[2]), (0.0, 0.0));
    let mut s = Sampler::new(plain(14), 3).unwrap();
    assert_eq!(
        s.sample(&[f32::NEG_INFINITY; 3]),
        Err(SamplerError::NothingToSample)
    );
    assert_eq!(
        s.sample(&[0.0, f32::NAN, 1.0]),
        Err(SamplerError::NanLogit { token: 1 })
    );
    assert_eq!(
        s.sample(&[0.0; 2]),
        Err(SamplerError::LogitCount { got: 2, n_vocab: 3 })
    );
}

#[test]
fn greedy_takes_the_argmax() {
    let mut s = Sampler::new(SamplerConfig::greedy(), 5).unwrap();
    assert_eq!(
        s.sample(&[0.1, -3.0, 7.5, 7.4, f32::NEG_INFINITY]).unwrap(),
        2
    );
}

#[test]
fn repetition_penalty_divides_positive_and_multiplies_negative_logits() {
    let cfg = SamplerConfig {
        repeat_penalty: 4.0,
        ..SamplerConfig::greedy()
    };
    let mut s = Sampler::new(cfg, 3).unwrap();
    let l = [2.0, 1.0, -0.5];
    assert_eq!(s.sample(&l).unwrap(), 0);
    s.accept(0); // 2.0 / 4 = 0.5 < 1.0
    assert_eq!(s.sample(&l).unwrap(), 1);
    s.accept(1); // 1.0 / 4 = 0.25 < 0.5
    assert_eq!(s.sample(&l).unwrap(), 0);
    let mut neg = Sampler::new(
        SamplerConfig {
            repeat_penalty: 4.0,
            ..SamplerConfig::greedy()
        },
        2,
    )
    .unwrap();
    neg.accept(0); // -0.5 * 4 = -2 < -1
    assert_eq!(neg.sample(&[-0.5, -1.0]).unwrap(), 1);
}

#[test]
fn frequency_and_presence_penalties_count_occurrences() {
    let cfg = SamplerConfig {
        frequency_penalty: 0.4,
        ..SamplerConfig::greedy()
    };
    let mut s = Sampler::new(cfg, 2).unwrap();
    for _ in 0..2 {
        s.accept(0);
    }
    assert_eq!(s.sample(&[1.0, 0.3]).unwrap(), 1); // 1.0 - 2 * 0.4 = 0.2 < 0.3
    assert_eq!(s.sample(&[1.0, 0.1]).unwrap(), 0); // 0.2 > 0.1
    let cfg = SamplerConfig {
        presence_penalty: 0.5,
        ..SamplerConfig::greedy()
    };
    let mut p = Sampler::new(cfg, 2).unwrap();
    for _ in 0..5 {
        p.accept(0);
    }
    assert_eq!(p.sample(&[1.0, 0.6]).unwrap(), 1); // 1.0 - 0.5 < 0.6, once only
    assert_eq!(p.sample(&[1.0, 0.4]).unwrap(), 0);
}

#[test]
fn penalties_only_see_the_last_n_tokens() {
    let cfg = SamplerConfig {
        repeat_penalty: 10.0,
        repeat_last_n: 3,
        ..SamplerConfig::greedy()
    };
    let mut s = Sampler::new(cfg, 4).unwrap();
    let l = [1.0, 0.5, 0.0, 0.0];
    s.accept(0);
    assert_eq!(s.sample(&l).unwrap(), 1);
    for t in [2, 3, 2] {
        s.accept(t);
    }
    assert_eq!(s.sample(&l).unwrap(), 0, "token 0 left the window");
    s.accept(0);
    s.reset();
    assert_eq!(s.sample(&l).unwrap(), 0, "reset forgets the window");
}

#[test]
fn logit_bias_applies_first_and_is_validated() {
    let cfg = SamplerConfig {
        logit_bias: vec![(2, f32::NEG_INFINITY), (0, 5.0)],
        ..SamplerConfig::greedy()
    };
    let mut s = Sampler::new(cfg, 3).unwrap();
    assert_eq!(s.sample(&[0.0, 1.0, 9.0]).unwrap(), 0);
    let bad = SamplerConfig {
        logit_bias: vec![(3, 1.0)],
        ..SamplerConfig::greedy()
    };
    assert_eq!(
        Sampler::new(bad, 3).unwrap_err(),
        SamplerError::BiasTokenOutOfRange {
            token: 3,
            n_vocab: 3
        }
    );
}

#[test]
fn bad_parameters_are_rejected() {
    for cfg in [
        SamplerConfig {
            top_p: 1.5,
            ..SamplerConfig::default()
        },
        SamplerConfig {
            min_p: -0.1,
            ..SamplerConfig::default()
        },
        SamplerConfig {
            temperature: f32::NAN,
            ..SamplerConfig::default()
        },
        SamplerConfig {
            repeat_penalty: 0.0,
            ..SamplerConfig::default()
        },
    ] {
        assert!(matches!(
            Sampler::new(cfg, 4),
            Err(SamplerError::BadParameter { .. })
        ));
    }
}

#[test]
fn same_seed_same_tokens_other_seed_other_tokens() {
    let l: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
    let run = |seed| {
        let mut s = Sampler::new(
            SamplerConfig {
                seed: Some(seed),
                ..SamplerConfig::default()
            },
            50,
        )
        .unwrap();
        (0..64).map(|_| s.sample(&l).unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(run(99), run(99));
    assert_ne!(run(99), run(100));
}

#[test]
fn buffers_are_reused_between_tokens() {
    let l: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).cos()).collect();
    let cfg = SamplerConfig {
        typical_p: 0.9,
        repeat_penalty: 1.1,
        seed: Some(5),
        ..SamplerConfig::default()
    };
    let mut s = Sampler::new(cfg, 1000).unwrap();
    let t = s.sample(&l).unwrap();
    s.accept(t);
    let (cands, scratch) = (s.candidates.as_ptr(), s.scratch.as_ptr());
    for _ in 0..100 {
        let t = s.sample(&l).unwrap();
        s.accept(t);
    }
    assert_eq!(
        (cands, scratch),
        (s.candidates.as_ptr(), s.scratch.as_ptr())
    );
}

#[test]
fn an_infinite_bias_forces_its_token_in_every_mode() {
    let l = [0.5f32, 3.0, -1.0, 2.0];
    for cfg in [
        SamplerConfig::default(),
        plain(21),
        SamplerConfig::greedy(),
        SamplerConfig {
            top_k: 1,
            ..plain(22)
        },
        SamplerConfig {
            typical_p: 0.5,
            ..plain(23)
        },
    ] {
        let cfg = SamplerConfig {
            logit_bias: vec![(2, f32::INFINITY)],
            seed: Some(24),
            ..cfg
        };
        let mut s = Sampler::new(cfg, 4).unwrap();
        for _ in 0..200 {
            assert_eq!(s.sample(&l).unwrap(), 2);
        }
    }
    // Two forced tokens share the draws; nothing else is drawn.
    let cfg = SamplerConfig {
        logit_bias: vec![(0, f32::INFINITY), (3, f32::INFINITY)],
        ..plain(25)
    };
    let got = frequencies(cfg, &l, 4000);
    assert_eq!((got[1], got[2]), (0.0, 0.0));
    assert!((got[0] - 0.5).abs() < 0.05, "{got:?}");
    // `-inf` plus `+inf` is no number: an error, not an arbitrary token.
    let cfg = SamplerConfig {
        logit_bias: vec![(1, f32::INFINITY)],
        ..plain(26)
    };
    let mut s = Sampler::new(cfg, 3).unwrap();
    assert_eq!(
        s.sample(&[0.0, f32::NEG_INFINITY, 1.0]),
        Err(SamplerError::NanLogit { token: 1 })
    );
}

#[test]
fn no_truncation_and_extreme_temperatures_draw_from_the_distribution() {
    // --top-k 0 --min-p 0 (and no top-p): the plain softmax over every token.
    let cfg = SamplerConfig {
        top_k: 0,
        min_p: 0.0,
        top_p: 1.0,
        ..plain(31)
    };
    assert_close(&frequencies(cfg, &logits_of(&P), N), &P, 0.01);
    // A tiny temperature is greedy, never a NaN-driven pick; a huge one is uniform.
    let l = [1.0f32, 30.0, 29.0, -5.0];
    let cold = SamplerConfig {
        temperature: 1e-30,
        ..plain(32)
    };
    assert_eq!(frequencies(cold, &l, 500), [0.0, 1.0, 0.0, 0.0]);
    let hot = SamplerConfig {
        temperature: 1e30,
        ..plain(33)
    };
    assert_close(&frequencies(hot, &l, N), &[0.25; 4], 0.015);
    // Equal logits under the default chain: every token stays possible.
    let got = frequencies(
        SamplerConfig {
            seed: Some(34),
            ..SamplerConfig::default()
        },
        &[2.0; 6],
        N,
    );
    assert_close(&got, &[1.0 / 6.0; 6], 0.015);
}
