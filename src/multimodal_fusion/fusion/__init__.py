"""Fusion modules, one `nn.Module` per strategy in a module of its own. No Kedro.

Every module takes per-modality embeddings (a dict keyed by modality) and a presence mask
(a dict of boolean vectors) and returns one fused vector per sample; its `output_dim`
tells the head how wide that vector is. A module with `produces_logits` returns class
logits and needs no head. Each is built the same way, `Module(shape, settings)`: a
`common.FusionShape` and its own typed `Settings`, in which a key it does not take is an
error. The strategy registry (`training.strategies`) gives each a name.
"""
