package control

// HoldHashSlots takes every password-hashing slot, as a burst of checks in progress would,
// until release is called.
func (s *Service) HoldHashSlots() (release func()) {
	for range cap(s.hasher.slots) {
		s.hasher.slots <- struct{}{}
	}
	return func() {
		for range cap(s.hasher.slots) {
			<-s.hasher.slots
		}
	}
}

// HashQueueLen is how many password checks are queued or running.
func (s *Service) HashQueueLen() int { return len(s.hasher.admitted) }
