"""Digital fulfilment (issue 16): order lines of digital products get their keys, from the
store's pool or bought from the supplier, each key given to one line only, ever.

- :mod:`.lines`: which booked lines are digital (one UPDATE per page of orders);
- :mod:`.fulfil`: giving a fulfillable order's digital lines their keys (the pool first, then a
  purchase recorded as an outbound call and sent once by the one sender), pre-orders checked
  again later, and the keys e-mail once every line has its keys (:func:`.fulfil.deliver`, the
  one place that queues it);
- :mod:`.mail`: the ``digital_keys`` e-mail's context and what its sending changes;
- :mod:`.balance`: the supplier account's balance read periodically, with an alert.
"""
