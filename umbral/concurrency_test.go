package umbral

import (
	"sync"
	"testing"
)

// Keys, capsules and fragments are shared between goroutines in the ledger
// (one proxy per node); their lazily computed caches must be safe for that.
func TestConcurrentUse(t *testing.T) {
	p := newParty(t)
	vkBytes := p.signer.VerifyingKey().Bytes()
	vk, _ := PublicKeyFromBytes(vkBytes) // fresh key: ECDSA form not cached yet
	sk, _ := SecretKeyFromBytes(p.receiving.Bytes())
	c, ct, _ := Encrypt(p.delegating.PublicKey(), []byte("m"))
	kfrags, _ := GenerateKFrags(p.delegating, sk.PublicKey(), p.signer, 2, 3, false, false)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			kf, err := kfrags[i%3].KeyFrag().Verify(vk, nil, nil)
			if err != nil {
				errs <- err
				return
			}
			cf, err := Reencrypt(c, kf)
			if err != nil {
				errs <- err
				return
			}
			if _, err := cf.CapsuleFrag().Verify(c, vk, p.delegating.PublicKey(), sk.PublicKey()); err != nil {
				errs <- err
			}
			other, _ := Reencrypt(c, kfrags[(i+1)%3])
			if _, err := DecryptReencrypted(sk, p.delegating.PublicKey(), c, []*VerifiedCapsuleFrag{cf, other}, ct); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
