//! kraken-sim: a Kraken Spot exchange simulator.
