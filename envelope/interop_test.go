package envelope

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestReferenceUmbralUnwraps checks the claim of SPEC.md §1 that any Umbral implementation
// opens the header: the reference implementation (npm @nucypher/umbral-pre, driven through
// umbral/testdata/oracle) unwraps the file key of a Go-sealed file, and a file whose key the
// reference wrapped opens in Go.
func TestReferenceUmbralUnwraps(t *testing.T) {
	o := startReference(t)
	sk, owner := newOwner(t)
	pt := plaintext(11, 70000)
	sealed := sealBytes(t, sk, testMetadata(len(pt)), pt, nil, 0)
	h, err := ParseHeader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	capsule, _ := h.Capsule().MarshalBinary()
	ans := o.call(t, map[string]string{"cmd": "decryptOriginal", "sk": hex.EncodeToString(sk.Bytes()),
		"capsule": hex.EncodeToString(capsule), "ct": hex.EncodeToString(h.wrappedKey())})
	refKey, _ := hex.DecodeString(ans["pt"])
	goKey, err := owner.UnwrapFileKey(h.Capsule(), h.wrappedKey())
	if err != nil || !bytes.Equal(refKey, goKey) || len(refKey) != fileKeyLen {
		t.Fatalf("reference unwrapped %x, Go %v", refKey, err)
	}
	opened, err := h.open(refKey)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := opened.NewReader(bytes.NewReader(sealed[h.Len():])).WriteTo(&got); err != nil || !bytes.Equal(got.Bytes(), pt) {
		t.Fatalf("opening with the reference's key: %v", err)
	}

	// The reference wraps, Go opens.
	fileKey := plaintext(12, fileKeyLen)
	ans = o.call(t, map[string]string{"cmd": "encrypt", "pk": hex.EncodeToString(sk.PublicKey().Bytes()), "pt": hex.EncodeToString(fileKey)})
	refCapsule, _ := hex.DecodeString(ans["capsule"])
	refWrapped, _ := hex.DecodeString(ans["ct"])
	var buf bytes.Buffer
	w, err := seal(&buf, sealInputs{fileKey: fileKey, salt: plaintext(13, saltLen), capsule: refCapsule, wrappedKey: refWrapped, chunkShift: defaultChunkShift}, testMetadata(len(pt)))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(pt)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out, _, err := openAll(buf.Bytes(), owner); err != nil || !bytes.Equal(out, pt) {
		t.Fatalf("Go opening a reference-wrapped file: %v", err)
	}
}

// reference is one running umbral/testdata/oracle/oracle.js (protocol in that file).
type reference struct {
	in  *bufio.Writer
	out *bufio.Reader
	id  int
}

func startReference(t *testing.T) *reference {
	t.Helper()
	dir := os.Getenv("RREC_UMBRAL_ORACLE")
	if dir == "" {
		dir = filepath.Join("..", "umbral", "testdata", "oracle")
	}
	_, errMod := os.Stat(filepath.Join(dir, "node_modules", "@nucypher", "umbral-pre", "package.json"))
	_, errNode := exec.LookPath("node")
	if errMod != nil || errNode != nil {
		msg := fmt.Sprintf("reference Umbral oracle not available (%v; node: %v); run make test", errMod, errNode)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command("node", "oracle.js")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the oracle exits when its input closes
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return &reference{in: bufio.NewWriter(stdin), out: bufio.NewReader(stdout)}
}

func (r *reference) call(t *testing.T, req map[string]string) map[string]string {
	t.Helper()
	r.id++
	msg := map[string]any{"id": r.id}
	for k, v := range req {
		msg[k] = v
	}
	line, _ := json.Marshal(msg)
	if _, err := r.in.Write(append(line, '\n')); err != nil {
		t.Fatal(err)
	}
	if err := r.in.Flush(); err != nil {
		t.Fatal(err)
	}
	reply, err := r.out.ReadBytes('\n')
	if err != nil {
		t.Fatalf("reference %s: %v", req["cmd"], err)
	}
	var ans map[string]any
	if err := json.Unmarshal(reply, &ans); err != nil || ans["ok"] != true {
		t.Fatalf("reference %s: %s (%v)", req["cmd"], reply, err)
	}
	out := map[string]string{}
	for k, v := range ans {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}
