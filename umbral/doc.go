// Package umbral implements Umbral threshold proxy re-encryption over
// secp256k1, byte-compatible with the reference rust-umbral 0.9+ (npm
// @nucypher/umbral-pre 0.10.0): the same keys from the same
// SecretKeyFactory seed, and capsules, key fragments and capsule fragments
// that each implementation decodes, verifies and decrypts from the other.
// SPEC.md beside this file describes the construction, every byte format
// and where the decoders are stricter than the reference.
//
// The flow: Encrypt seals a plaintext under the delegating public key A,
// giving a Capsule and a ciphertext; DecryptOriginal opens it with a.
// GenerateKFrags splits a re-encryption key for a receiving key B into
// shares key fragments; each proxy verifies its fragment (KeyFrag.Verify)
// and turns the capsule into a capsule fragment (Reencrypt); the receiver
// verifies threshold fragments (CapsuleFrag.Verify) and decrypts with
// DecryptReencrypted. Failures are errors.Is-able sentinels (ErrIncorrect*
// blame a proxy; ErrValidationFailed / ErrAuthenticationFailed mean too few
// fragments or wrong keys).
//
// Curve arithmetic is gitlab.com/yawning/secp256k1-voi. Every
// multiplication by a secret (a, b, r, u, x_p, rk, t, d, the Lagrange
// weights) is constant time: voi's ScalarMult, ScalarBaseMult,
// MultiScalarMult, or this package's U table, which scans every entry. The
// variable-time routines only ever see public values (capsule check,
// capsule-fragment proof, ECDSA verification).
//
// # Cost
//
// Curve operations per call, with the floor they imply. Unit costs were
// measured with BenchmarkVoi on the project VM (2 shared cores, heavily
// loaded by other jobs, so thread CPU time, best of 5 runs of 100 ms):
//
//	V    constant-time variable-base k·P (GLV)           90 µs
//	Vv   variable-time variable-base k·P (GLV)           84 µs
//	B    constant-time base-point k·G (table)            31.5 µs
//	Ut   constant-time k·U (this package's table)        43 µs
//	Utv  variable-time k·U (same table)                  30 µs
//	M2   constant-time 2-point multi-mult                163 µs
//	M2v  variable-time 2-point multi-mult                155 µs
//	M5   constant-time 5-point multi-mult                277 µs
//	C    compression (one field inversion)               8.5 µs
//	D    decompression (one square root)                 8.9 µs
//	S    ECDSA sign                                      52 µs
//	Vf   ECDSA verify                                    113 µs
//	Cv   capsule self-check (s·G − h·E, variable time)   94 µs
//	I    scalar inversion                                10.5 µs
//
//	Encrypt                     2B + V + 3C                         ≈ 179 µs  measured 240
//	DecryptOriginal             V + C                               ≈  99 µs  measured 137
//	GenerateKFrags 2-of-3       B + V + 5C + 3Ut + 3S + I           ≈ 460 µs  measured 470
//	KeyFrag decode + Verify     2D + Ut + Vf                        ≈ 174 µs  measured 175
//	Reencrypt                   4V + Ut + 5C                        ≈ 445 µs  measured 415
//	CapsuleFrag decode + Verify 7D + Vf + 2M2v + Utv + Vv           ≈ 599 µs  measured 619
//	DecryptReencrypted, 2 frags V + 2C + M5 + M2 + I                ≈ 557 µs  measured 584
//	Capsule decode              2D + Cv                             ≈ 112 µs
//
// In general GenerateKFrags(t, N) costs B + V + (N+2)C + N·Ut + I plus N
// signatures when both key flags are set (the proxy and receiver messages
// are then identical and share one signature) and 2N otherwise;
// DecryptReencrypted with m fragments costs V + 2C + M(2m+1) + M(m) + I.
// Public keys cache their compressed form and their ECDSA form, and a
// SecretKey caches its public key, so those are paid once per key.
//
// "measured" is BenchmarkX in the same session (thread CPU, best of 5),
// taken minutes apart from the unit costs; on this shared machine absolute
// figures move by up to 2× between runs. BenchmarkFloor removes that noise
// by alternating each operation with its primitive sequence above on the
// thread CPU clock: op/floor was 1.00–1.07 for every operation (two runs),
// the rest being hashing, HKDF, the AEAD and allocation.
package umbral
