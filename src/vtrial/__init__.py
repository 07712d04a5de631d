"""vtrial: virtual randomized trials of anastrozole versus placebo for PA spine BMD.

Modelled on Burnett-Bowie et al., J Clin Endocrinol Metab 2009;94:4785.
"""

__version__ = "0.1.0"
