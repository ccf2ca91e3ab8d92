"""Plots used by the notebooks and the ipywidgets prediction browser."""
