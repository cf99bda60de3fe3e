package umbral_test

import (
	"fmt"

	"github.com/resilientrecords/resilientrecords/umbral"
)

// Alice encrypts for herself, delegates to Bob through 3 proxies with a
// threshold of 2, and Bob decrypts with two capsule fragments.
func Example() {
	alice, _ := umbral.GenerateSecretKey()
	bob, _ := umbral.GenerateSecretKey()
	signer := umbral.NewSigner(alice)

	capsule, ciphertext, _ := umbral.Encrypt(alice.PublicKey(), []byte("lab results"))

	kfrags, _ := umbral.GenerateKFrags(alice, bob.PublicKey(), signer, 2, 3, true, true)

	var cfrags []*umbral.VerifiedCapsuleFrag
	for _, vkf := range kfrags[:2] {
		// Each proxy receives its fragment as bytes and verifies it.
		b, _ := vkf.MarshalBinary()
		var kf umbral.KeyFrag
		if err := kf.UnmarshalBinary(b); err != nil {
			panic(err)
		}
		verified, err := kf.Verify(signer.VerifyingKey(), alice.PublicKey(), bob.PublicKey())
		if err != nil {
			panic(err)
		}
		cfrag, _ := umbral.Reencrypt(capsule, verified)

		// Bob receives the capsule fragment as bytes and checks the proof.
		cb, _ := cfrag.MarshalBinary()
		var cf umbral.CapsuleFrag
		if err := cf.UnmarshalBinary(cb); err != nil {
			panic(err)
		}
		checked, err := cf.Verify(capsule, signer.VerifyingKey(), alice.PublicKey(), bob.PublicKey())
		if err != nil {
			panic(err) // errors.Is(err, umbral.ErrIncorrectReencryption): a faulty proxy
		}
		cfrags = append(cfrags, checked)
	}

	plaintext, err := umbral.DecryptReencrypted(bob, alice.PublicKey(), capsule, cfrags, ciphertext)
	fmt.Println(string(plaintext), err)
	// Output: lab results <nil>
}
