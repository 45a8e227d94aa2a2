"""Tree ensembles: conversion from scikit-learn, the model, its file format, inline code."""
