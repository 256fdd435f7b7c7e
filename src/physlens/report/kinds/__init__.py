"""Figure makers for finding kinds, one module per kind (or per probe).

Each module here registers its makers with :func:`physlens.report.figures.figure_for`;
the report imports them all the first time it draws a figure, so a new kind's
figures are one new file in this package.
"""
