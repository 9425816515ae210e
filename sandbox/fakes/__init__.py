"""One fake per marketplace, each module defining ``FAKE`` (:class:`sandbox.fake.Fake`); the
sandbox app registers every module found here (:func:`sandbox.fake.discover`)."""
