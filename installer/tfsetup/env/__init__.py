"""One environment: where its files are (paths), what tfsetup recorded in it (record), what it holds
(facts), and the registry of the envs tfsetup made (registry)."""
