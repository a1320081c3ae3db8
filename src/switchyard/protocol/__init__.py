"""Wire formats shared by the coordinator and the provider agent.

Provider wire protocol (WIRE.md):
  frames.py    pydantic models for every frame, ProviderFrame/CoordinatorFrame unions,
               parse_provider_frame / parse_coordinator_frame / dump_frame, MAX_FRAME_BYTES
  codes.py     CloseCode (4xxx close codes), FATAL_CLOSE_CODES, FrameError
  signing.py   Ed25519 identity and challenge signing: provider_id_for, sign/verify_challenge

HTTP request bodies:
  billing_api.py  CheckoutRequest (buy credit) and PayoutRequest (admin payouts)
"""
