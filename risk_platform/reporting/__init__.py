"""What the assets show a person: headlines with units, charts and readable tables built from the results of the
data gate, the risk engine, the validation and the promotion (rendered with :mod:`risk_platform.render`)."""
