package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// FuzzRequestBody feeds arbitrary bodies to the request decoder: it must refuse with a
// protocol error, never panic, and what it accepts must survive a round trip.
func FuzzRequestBody(f *testing.F) {
	f.Add([]byte(`{"request_tx":"` + hex32 + `","grant":"` + hex32 + `","capsule":"` +
		string(bytes.Repeat([]byte("ab"), 105)) + `","node":"02` + hex32 + `","not_after":1,"signature":"` + hex32 + hex32 + `"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"not_after":-1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r ReencryptRequest
		err := ReadJSON(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/reencrypt", bytes.NewReader(body)), MaxRequestBody, &r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not a protocol error: %v", err)
			}
			return
		}
		var again ReencryptRequest
		b, _ := jsonMarshal(&r)
		if err := ReadJSON(httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader(b)), MaxRequestBody, &again); err != nil || again != r {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

const hex32 = "0001020304050607080910111213141516171819202122232425262728293031"

// FuzzOpenDeposit feeds arbitrary sealed deposits to the node's opener: a refusal is a
// protocol error, and what opens is a whole key fragment.
func FuzzOpenDeposit(f *testing.F) {
	sk, err := umbral.SecretKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	node := PubKeyOf(sk.PublicKey())
	grant := ID{1}
	good, err := SealDeposit("fuzz", grant, node, make([]byte, umbral.KeyFragSize))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Capsule[:], []byte(good.Ciphertext))
	f.Add(good.Capsule[:], []byte{})
	f.Add(make([]byte, CapsuleSize), make([]byte, 100))
	f.Fuzz(func(t *testing.T, capsule, ct []byte) {
		d := &Deposit{Ciphertext: ct}
		copy(d.Capsule[:], capsule)
		kf, err := OpenDeposit(sk, "fuzz", grant, node, d)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not a protocol error: %v", err)
			}
			return
		}
		if len(kf) != umbral.KeyFragSize {
			t.Fatalf("opened a %d-byte fragment", len(kf))
		}
	})
}
