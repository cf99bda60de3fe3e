// Package storetest is the conformance suite every store.Store implementation must pass, plus
// the deterministic test data and golden CIDs the suite and the implementations' own tests share.
package storetest

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	_ "embed"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/go-cid"
)

//go:embed testdata/golden.txt
var goldenFile []byte

// Vector is one golden CID: the CID kubo gives the first Size bytes of the keystream.
type Vector struct {
	Name string
	Size int64
	CID  cid.Cid
}

// Golden returns the golden vectors in file order (ascending size).
func Golden() []Vector {
	var vs []Vector
	sc := bufio.NewScanner(bytes.NewReader(goldenFile))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			panic(fmt.Sprintf("storetest: bad golden line %q", line))
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			panic(err)
		}
		c, err := cid.Decode(f[2])
		if err != nil {
			panic(err)
		}
		vs = append(vs, Vector{Name: f[0], Size: n, CID: c})
	}
	return vs
}

// Vec returns the golden vector with the given name.
func Vec(name string) Vector {
	for _, v := range Golden() {
		if v.Name == name {
			return v
		}
	}
	panic("storetest: no golden vector " + name)
}

// Keystream returns the first n bytes of the AES-128-CTR keystream (key 00 01 .. 0f, zero IV)
// that the golden vectors hash, generated as it is read.
func Keystream(n int64) io.Reader {
	key := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	ctr := cipher.NewCTR(block, make([]byte, aes.BlockSize))
	return io.LimitReader(&cipher.StreamReader{S: ctr, R: zeros{}}, n)
}

// KeystreamBytes returns the first n bytes of the keystream in memory.
func KeystreamBytes(n int64) []byte {
	b, err := io.ReadAll(Keystream(n))
	if err != nil {
		panic(err)
	}
	return b
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// BlockPath is where a flatfs blocks directory with kubo's next-to-last/2 sharding keeps the
// block c: both store/local and a kubo repo use this layout.
func BlockPath(blocksDir string, c cid.Cid) string {
	key := dshelp.MultihashToDsKey(c.Hash()).String()[1:]
	return filepath.Join(blocksDir, key[len(key)-3:len(key)-1], key+".data")
}
