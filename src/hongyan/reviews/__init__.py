"""Reviews: the versions of signs and templates submitted for review, and the decisions."""
