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

// uTable holds j·16^i·U for every 4-bit window i (64 of them) and digit j
// (0..15, entry 0 the identity), so k·U costs 64 additions and no doublings,
// like the library's fixed-base multiplication by G.
type uTable [64][16]secp256k1.Point

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
			t[i][0].Identity()
			t[i][1].Set(base)
			for j := 2; j < 16; j++ {
				t[i][j].Add(&t[i][j-1], base)
			}
			base.Double(&t[i][8])
		}
		uTbl = t
	})
	return uPoint, uTbl
}

// mulU returns k·U in constant time: every window scans all 16 entries.
func mulU(k *secp256k1.Scalar) *secp256k1.Point {
	_, t := paramU()
	b := k.Bytes()
	acc := secp256k1.NewIdentityPoint()
	sel := secp256k1.NewIdentityPoint()
	for i := 0; i < 64; i++ {
		digit := b[31-i/2] >> (4 * uint(i%2)) & 0xf
		sel.Identity()
		for j := 1; j < 16; j++ {
			sel.ConditionalSelect(sel, &t[i][j], uint64(subtle.ConstantTimeByteEq(digit, byte(j))))
		}
		acc.Add(acc, sel)
	}
	return acc
}

// mulUVartime returns k·U for a public k, skipping zero digits.
func mulUVartime(k *secp256k1.Scalar) *secp256k1.Point {
	_, t := paramU()
	b := k.Bytes()
	acc := secp256k1.NewIdentityPoint()
	for i := 0; i < 64; i++ {
		if digit := b[31-i/2] >> (4 * uint(i%2)) & 0xf; digit != 0 {
			acc.Add(acc, &t[i][digit])
		}
	}
	return acc
}
