//! JSON for floats that may be NaN or infinite. JSON has no such numbers (serde_json
//! writes `null` and cannot read it back as a float), yet a diverged run's history is
//! exactly the one worth saving. Finite values are written as numbers; the others as the
//! strings `"NaN"`, `"Infinity"` and `"-Infinity"` (the spelling of JavaScript and of
//! Python's `json` module), and read back from either form.
//!
//! Use with `#[serde(with = "crate::io::json_float")]` on an `f32`, or the
//! `option`, `list`, `named`, `double` and `named_double` submodules for `Option<f32>`,
//! `Vec<f64>`, `Vec<(String, f32)>`, `f64` and `Vec<(String, f64)>`. An f64 is written
//! with the shortest digits that read back to the same f64.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A float that serialises as described in the module docs; an f32 is written with the
/// shortest digits that read back to the same f32 (`0.1`, not `0.10000000149011612`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JsonFloat(pub f64);

/// An f32 on the wire.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Single(f32);

impl Serialize for Single {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f32(self.0)
        } else {
            JsonFloat(self.0.into()).serialize(s)
        }
    }
}

impl Serialize for JsonFloat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if v == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(v)
        }
    }
}

impl<'de> Deserialize<'de> for JsonFloat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = JsonFloat;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonFloat, E> {
                Ok(JsonFloat(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonFloat, E> {
                Ok(JsonFloat(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonFloat, E> {
                Ok(JsonFloat(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonFloat, E> {
                match v {
                    "NaN" => Ok(JsonFloat(f64::NAN)),
                    "Infinity" | "inf" => Ok(JsonFloat(f64::INFINITY)),
                    "-Infinity" | "-inf" => Ok(JsonFloat(f64::NEG_INFINITY)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// An `f32` field.
pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    Single(*v).serialize(s)
}

/// An `f32` field.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    Ok(JsonFloat::deserialize(d)?.0 as f32)
}

/// An `Option<f32>` field (`null` is `None`).
pub mod option {
    use super::*;

    /// Writes `None` as `null`, a value as [`serialize`] does.
    pub fn serialize<S: Serializer>(v: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Single).serialize(s)
    }

    /// Reads `null` as `None`, a value as [`deserialize`] does.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
        Ok(Option::<JsonFloat>::deserialize(d)?.map(|x| x.0 as f32))
    }
}

/// A `Vec<f64>` field.
pub mod list {
    use super::*;

    /// Writes a JSON array, each element a number or a non-finite string.
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&x| JsonFloat(x)))
    }

    /// Reads an array of numbers and non-finite strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<JsonFloat>::deserialize(d)?
            .into_iter()
            .map(|x| x.0)
            .collect())
    }
}

/// A `Vec<(String, f32)>` field (named metrics).
pub mod named {
    use super::*;

    /// Writes a JSON array of `[name, value]` pairs, each value an f32 in its shortest digits
    /// or a non-finite string.
    pub fn serialize<S: Serializer>(v: &[(String, f32)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(n, x)| (n, Single(*x))))
    }

    /// Reads an array of `[name, value]` pairs.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, f32)>, D::Error> {
        Ok(Vec::<(String, JsonFloat)>::deserialize(d)?
            .into_iter()
            .map(|(n, x)| (n, x.0 as f32))
            .collect())
    }
}

/// An `f64` field.
pub mod double {
    use super::*;

    /// Writes a number (shortest round-trip digits) or a non-finite string.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        JsonFloat(*v).serialize(s)
    }

    /// Reads a number or a non-finite string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(JsonFloat::deserialize(d)?.0)
    }
}

/// A `Vec<(String, f64)>` field (named counters).
pub mod named_double {
    use super::*;

    /// Writes a JSON array of `[name, value]` pairs, each value a number or a non-finite
    /// string.
    pub fn serialize<S: Serializer>(v: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(n, x)| (n, JsonFloat(*x))))
    }

    /// Reads an array of `[name, value]` pairs.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, f64)>, D::Error> {
        Ok(Vec::<(String, JsonFloat)>::deserialize(d)?
            .into_iter()
            .map(|(n, x)| (n, x.0))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug)]
    struct Sample {
        #[serde(with = "super")]
        a: f32,
        #[serde(with = "super::option")]
        b: Option<f32>,
        #[serde(with = "super::list")]
        c: Vec<f64>,
        #[serde(with = "super::named")]
        d: Vec<(String, f32)>,
    }

    #[test]
    fn non_finite_values_survive_a_round_trip() {
        let s = Sample {
            a: f32::NAN,
            b: Some(f32::INFINITY),
            c: vec![f64::NEG_INFINITY, 0.25],
            d: vec![("accuracy".into(), f32::NAN), ("x".into(), 0.1)],
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"a":"NaN","b":"Infinity","c":["-Infinity",0.25],"d":[["accuracy","NaN"],["x",0.1]]}"#
        );
        let back: Sample = serde_json::from_str(&text).unwrap();
        assert!(back.a.is_nan());
        assert_eq!(back.b, Some(f32::INFINITY));
        assert_eq!(back.c, vec![f64::NEG_INFINITY, 0.25]);
        assert!(back.d[0].1.is_nan());
        assert_eq!(back.d[1].1, 0.1, "f32 values come back exactly");
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Doubles {
        #[serde(with = "super::double")]
        a: f64,
        #[serde(with = "super::named_double")]
        b: Vec<(String, f64)>,
    }

    #[test]
    fn f64_values_come_back_exactly() {
        let s = Doubles {
            a: 0.1 + 0.2,
            b: vec![("best".into(), f64::INFINITY), ("t_cur".into(), 1e-300)],
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"a":0.30000000000000004,"b":[["best","Infinity"],["t_cur",1e-300]]}"#
        );
        assert_eq!(serde_json::from_str::<Doubles>(&text).unwrap(), s);
    }

    #[test]
    fn other_strings_are_refused() {
        let e = serde_json::from_str::<Sample>(r#"{"a":"nope","b":null,"c":[],"d":[]}"#);
        assert!(e.is_err());
    }
}
