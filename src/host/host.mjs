// pybundle's JavaScript host, run by Node.js. See snapshot.cpp for the protocol.
