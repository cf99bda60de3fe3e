package umbral

import (
	"crypto/subtle"
	"sync"

	"gitlab.com/yawning/secp256k1-voi"
)

// uCompressed is the reference's second generator U =
// hash_to_curve(secp256k1_XMD:SHA-256_SSWU_RO_, DST "PARAMETERS", msg "POINT_U").
// It is hard-coded; TestParameterU recomputes it with RFC 9380.
var uCompressed = [pointSize]byte{
	0x03, 0x07, 0x93, 0x90, 0xd0, 0xfb, 0xe2, 0x20, 0xfc, 0x34, 0xaa, 0xb8, 0xec, 0xbf, 0x49, 0x09, 0x80,
	0x98, 0x03, 0x68, 0x20, 0xfa, 0xdb, 0x98, 0xc0, 0x31, 0x43, 0xe5, 0x5d, 0xb8, 0xec, 0x73, 0xcd,
}

// uTable holds j·16^i·U for every 4-bit window i (64 of them) and j = 1..8.
// With signed digits in [−7, 8] a multiplication k·U costs 64 additions, no
// doublings, and a constant-time scan of 8 entries per window.
type uTable [64][8]secp256k1.Point

var (
	uOnce  sync.Once
	uPoint curvePoint
	uTbl   *uTable
)

func paramU() (curvePoint, *uTable) {
	uOnce.Do(func() {
		p, err := parsePoint(uCompressed[:])
		if err != nil {
			panic("umbral: hard-coded U does not decode")
		}
		uPoint = p
		t := new(uTable)
		base := secp256k1.NewPointFrom(p.p)
		for i := range t {
			t[i][0].Set(base)
			for j := 1; j < 8; j++ {
				t[i][j].Add(&t[i][j-1], base)
			}
			base.Double(&t[i][7])
		}
		uTbl = t
	})
	return uPoint, uTbl
}

// signedDigits writes k = ±Σ d_i·16^i with d_i ∈ [−7, 8] and returns 1 if
// the sign is negative. k is first replaced by n−k when k > n/2, so that its
// top nibble is at most 7 and the last carry is absorbed. Branch-free.
func signedDigits(k *secp256k1.Scalar, d *[64]int8) uint64 {
	neg := k.IsGreaterThanHalfN()
	b := secp256k1.NewScalar().ConditionalNegate(k, neg).Bytes()
	carry := 0
	for i := range d {
		v := int(b[31-i/2]>>(4*uint(i%2))&0xf) + carry // 0..16
		carry = (v + 7) >> 4                           // 1 iff v ≥ 9
		d[i] = int8(v - carry<<4)
	}
	return neg
}

// mulU returns k·U in constant time: every window scans all 8 entries and
// the sign is applied with conditional negations.
func mulU(k *secp256k1.Scalar) *secp256k1.Point {
	_, t := paramU()
	var d [64]int8
	neg := signedDigits(k, &d)
	acc := secp256k1.NewIdentityPoint()
	sel := secp256k1.NewIdentityPoint()
	for i := range d {
		sign := d[i] >> 7 // 0 or −1
		abs := byte((d[i] ^ sign) - sign)
		sel.Identity()
		for j := range t[i] {
			sel.ConditionalSelect(sel, &t[i][j], uint64(subtle.ConstantTimeByteEq(abs, byte(j+1))))
		}
		sel.ConditionalNegate(sel, uint64(sign&1))
		acc.Add(acc, sel)
	}
	return acc.ConditionalNegate(acc, neg)
}

// mulUVartime returns k·U for a public k, skipping zero digits.
func mulUVartime(k *secp256k1.Scalar) *secp256k1.Point {
	_, t := paramU()
	var d [64]int8
	neg := signedDigits(k, &d)
	acc := secp256k1.NewIdentityPoint()
	tmp := secp256k1.NewIdentityPoint()
	for i, di := range d {
		switch {
		case di > 0:
			acc.Add(acc, &t[i][di-1])
		case di < 0:
			acc.Add(acc, tmp.Negate(&t[i][-di-1]))
		}
	}
	if neg == 1 {
		acc.Negate(acc)
	}
	return acc
}
