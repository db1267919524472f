//! Normal-distribution tails, for the statistical tests of two or more crates (the anomaly
//! likelihood of nexus-alerting, the rollout judge of nexus-rollout).
//!
//! ```
//! use nexus_core::stats::{erfc, normal_sf};
//! assert!((erfc(0.0) - 1.0).abs() < 1e-7);
//! assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
//! assert_eq!(normal_sf(f64::NAN), 1.0);
//! ```

/// The complementary error function (Numerical Recipes' `erfcc`, fractional error < 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// P(Z > z) for a standard normal Z (the survival function); 1 for NaN, so an undefined
/// statistic never looks significant.
pub fn normal_sf(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}
