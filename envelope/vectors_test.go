package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/resilientrecords/resilientrecords/umbral"
)

var update = flag.Bool("update", false, "regenerate testdata/vectors and the fuzz seed corpora")

// vector is one entry of testdata/vectors.json. The plaintext is not stored: it is
// plaintext(Seed, Size), checked against PlaintextSHA256.
type vector struct {
	Name            string   `json:"name"`
	File            string   `json:"file"`
	SealedSHA256    string   `json:"sealed_sha256"`
	DelegatingSK    string   `json:"delegating_secret_key"`
	FileKey         string   `json:"file_key"`
	Seed            uint64   `json:"plaintext_seed"`
	Size            int      `json:"plaintext_size"`
	PlaintextSHA256 string   `json:"plaintext_sha256"`
	ChunkSize       int      `json:"chunk_size"`
	NoPadding       bool     `json:"no_padding"`
	Metadata        Metadata `json:"metadata"`
}

const vectorsManifest = "testdata/vectors.json"

// vectorSK is the owner's delegating key of every vector (a fixed, public test key).
func vectorSK(t testing.TB) *umbral.SecretKey {
	seed := sha256.Sum256([]byte("resilientrecords envelope test vector owner"))
	sk, err := umbral.SecretKeyFromBytes(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func vectorSpecs() []vector {
	created := time.Date(2026, 11, 21, 9, 30, 0, 123456789, time.UTC)
	spec := func(name string, size int, chunk int, noPad bool) vector {
		return vector{Name: name, File: "vectors/" + name + ".rrenv", Seed: uint64(size) + 1, Size: size, ChunkSize: chunk, NoPadding: noPad,
			Metadata: Metadata{Name: name + ".bin", MediaType: "application/octet-stream", Size: int64(size), Created: created,
				Labels: map[string]string{"vector": name}}}
	}
	return []vector{
		spec("empty", 0, 64<<10, true),
		spec("one-byte", 1, 64<<10, true),
		spec("chunk-minus-one", 64<<10-1, 64<<10, true),
		spec("one-chunk", 64<<10, 64<<10, true),
		spec("chunk-plus-one", 64<<10+1, 64<<10, true),
		spec("multi-chunk", 3<<16+1000, 64<<10, true),
		spec("padded-empty", 0, 64<<10, false),
		spec("padded-multi-chunk", 200000, 64<<10, false),
		spec("small-chunks-padded", 20000, 4<<10, false),
	}
}

func TestGenerateVectors(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the vectors")
	}
	sk := vectorSK(t)
	var out []vector
	for i, v := range vectorSpecs() {
		cryptotest.SetGlobalRandom(t, uint64(i)) // deterministic capsule and Umbral nonce
		fk := sha256.Sum256([]byte("file key " + v.Name))
		salt := sha256.Sum256([]byte("salt " + v.Name))
		capsule, wrapped, err := umbral.Encrypt(sk.PublicKey(), fk[:])
		if err != nil {
			t.Fatal(err)
		}
		cb, _ := capsule.MarshalBinary()
		shift, _ := chunkShiftFor(&Options{ChunkSize: v.ChunkSize})
		pt := plaintext(v.Seed, v.Size)
		sealed := sealWithInputs(t, sealInputs{fileKey: fk[:], salt: salt[:saltLen], capsule: cb, wrappedKey: wrapped, chunkShift: shift, noPadding: v.NoPadding}, v.Metadata, pt)
		v.DelegatingSK = hex.EncodeToString(sk.Bytes())
		v.FileKey = hex.EncodeToString(fk[:])
		v.SealedSHA256 = sha256Hex(sealed)
		v.PlaintextSHA256 = sha256Hex(pt)
		writeFile(t, filepath.Join("testdata", v.File), sealed)
		out = append(out, v)
		if len(sealed) < 32<<10 {
			h, err := ParseHeader(bytes.NewReader(sealed))
			if err != nil {
				t.Fatal(err)
			}
			writeSeed(t, "FuzzParseHeader", v.Name, sealed[:h.Len()])
			writeSeed(t, "FuzzOpen", v.Name, sealed)
		}
	}
	js, _ := json.MarshalIndent(out, "", "  ")
	writeFile(t, vectorsManifest, append(js, '\n'))
	for name, seed := range map[string][]byte{"empty": {}, "magic": []byte(magic), "version-2": []byte(magic + "\x02"), "age": []byte("age-encryption.org/v1\n")} {
		writeSeed(t, "FuzzParseHeader", name, seed)
	}
}

func TestVectors(t *testing.T) {
	js, err := os.ReadFile(vectorsManifest)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(js, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(vectorSpecs()) {
		t.Fatalf("%d vectors, want %d", len(vs), len(vectorSpecs()))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			sealed, err := os.ReadFile(filepath.Join("testdata", v.File))
			if err != nil {
				t.Fatal(err)
			}
			if sha256Hex(sealed) != v.SealedSHA256 {
				t.Fatal("sealed file does not match its hash")
			}
			skBytes, _ := hex.DecodeString(v.DelegatingSK)
			sk, err := umbral.SecretKeyFromBytes(skBytes)
			if err != nil {
				t.Fatal(err)
			}
			owner := OwnerKey{Delegating: sk}
			pt, meta, err := openAll(sealed, owner)
			if err != nil {
				t.Fatal(err)
			}
			want := plaintext(v.Seed, v.Size)
			if !bytes.Equal(pt, want) || sha256Hex(pt) != v.PlaintextSHA256 {
				t.Fatal("plaintext differs")
			}
			if !meta.Created.Equal(v.Metadata.Created) {
				t.Fatalf("created %v", meta.Created)
			}
			meta.Created = v.Metadata.Created
			if !reflect.DeepEqual(meta, v.Metadata) {
				t.Fatalf("metadata %+v, want %+v", meta, v.Metadata)
			}

			// Re-seal with the same file key, salt and capsule: byte-identical output.
			h, err := ParseHeader(bytes.NewReader(sealed))
			if err != nil {
				t.Fatal(err)
			}
			if h.ChunkSize() != v.ChunkSize {
				t.Fatalf("chunk size %d", h.ChunkSize())
			}
			fk, err := owner.UnwrapFileKey(h.Capsule(), h.wrappedKey())
			if err != nil || hex.EncodeToString(fk) != v.FileKey {
				t.Fatalf("unwrapped file key differs (%v)", err)
			}
			cb, _ := h.Capsule().MarshalBinary()
			again := sealWithInputs(t, sealInputs{fileKey: fk, salt: h.salt(), capsule: cb, wrappedKey: h.wrappedKey(),
				chunkShift: uint8(h.chunkShift()), noPadding: v.NoPadding}, v.Metadata, want)
			if !bytes.Equal(again, sealed) {
				t.Fatal("re-sealing did not reproduce the vector")
			}
		})
	}
}

func sealWithInputs(t *testing.T, in sealInputs, meta Metadata, pt []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := seal(&buf, in, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeSeed writes a seed in the go test fuzz corpus format.
func writeSeed(t *testing.T, target, name string, data []byte) {
	writeFile(t, filepath.Join("testdata", "fuzz", target, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data))))
}
